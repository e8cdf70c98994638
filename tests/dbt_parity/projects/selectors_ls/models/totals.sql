{{ config(materialized='table', tags=['finance']) }}
select c.id, c.name, sum(h.double_amount) as total
from {{ ref('stg_customers') }} c left join {{ ref('helper') }} h on c.id = h.id
group by 1, 2
