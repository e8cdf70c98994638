{{ config(materialized='incremental', unique_key='id10') }}
select * from {{ ref('eph') }}
