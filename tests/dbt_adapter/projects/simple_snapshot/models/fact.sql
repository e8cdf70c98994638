
{{ config(materialized="table") }}
select * from {{ ref('seed') }}
where id between 1 and 20
