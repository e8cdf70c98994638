{{ config(materialized='ephemeral') }}
select id * 10 as id10 from {{ ref('s') }}
