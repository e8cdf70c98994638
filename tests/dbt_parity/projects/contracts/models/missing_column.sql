{{ config(materialized='table') }}
select 1 as id, 'x' as label, 3 as extra
