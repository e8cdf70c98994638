{{ config(materialized='ephemeral') }}
select id, amount * 2 as double_amount from {{ ref('stg_payments') }}
