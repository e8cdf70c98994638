{{ config(materialized='table') }}
-- events: {{ source('raw', 'events') }} templated: {{ source('lake', 'templated') }}
select e.id, e.kind, p.amount, t.v, q.customer
from {{ source('raw', 'events') }} e
left join {{ source('lake', 'parquet_orders') }} p on p.id = e.id
left join {{ source('lake', 'templated') }} t on t.id = e.id
left join {{ source('lake', 'quoted') }} q on q.id = e.id
