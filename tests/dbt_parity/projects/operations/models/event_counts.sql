{{ config(materialized='table') }}
select kind, count(*) as n from {{ source('raw', 'events') }} group by kind
