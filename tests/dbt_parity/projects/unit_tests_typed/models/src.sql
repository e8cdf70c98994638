{{ config(materialized='table') }}
select 1 as id, 2.50::decimal(10, 2) as amount, timestamp '2024-01-01 10:00:00' as at,
       true as flag, 'x' as name, date '2024-01-01' as d, 1.5::double as f
