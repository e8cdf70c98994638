{{ config(materialized='table') }}
select null::integer as id
