{{ config(materialized='table') }}
select c.name, c.tier, sum(o.amount) as total, count(*) as n
from {{ ref('stg_orders') }} o
join {{ source('raw', 'customers') }} c on c.name = o.customer
group by all
