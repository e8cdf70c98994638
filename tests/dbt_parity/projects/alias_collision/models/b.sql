{{ config(alias='other') }} select 2 as x
