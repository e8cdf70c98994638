{{ config(incremental_strategy='delete+insert') }}
select * from {{ ref('src') }}
