{{ config(location='out/by_option', options={'format': 'parquet', 'codec': 'zstd'}) }}
select 42 as answer
