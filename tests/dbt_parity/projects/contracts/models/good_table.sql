{{ config(materialized='table') }}
select 'a' as name, 1 as id, 2.5::decimal(10, 2) as price, date '2024-01-01' as day
