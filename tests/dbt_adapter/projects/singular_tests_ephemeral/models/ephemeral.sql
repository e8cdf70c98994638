
  {{ config(materialized="ephemeral") }}

with my_cool_cte as (
  select name, id from {{ ref('base') }}
)
select id, name from my_cool_cte where id is not null
