{{ config(incremental_strategy='merge') }}
select * from {{ ref('src') }}
