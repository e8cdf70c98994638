{{ config(materialized='ephemeral') }}
select id, amount from {{ ref('src') }}
