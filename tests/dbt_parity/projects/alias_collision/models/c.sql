{{ config(schema='x', alias='s') }} select 3 as x
