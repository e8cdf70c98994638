{{ config(unique_key='k') }}
select case when id = 3 then null else id end as k, value from {{ ref('src') }}
