
{{ config(materialized='ephemeral') }}

select * from {{ source('test_source', 'src_customers') }}
