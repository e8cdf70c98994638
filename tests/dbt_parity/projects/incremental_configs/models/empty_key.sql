{{ config(unique_key='') }}
select * from {{ ref('src') }}
