{{ config(format='csv', delimiter='|', location='out/csv/ext_csv.csv') }}
select id, label, score from {{ ref('ext_default') }}
