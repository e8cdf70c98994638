{{ config(materialized='table') }}
select e.id, e.label, j.day, p.region
from {{ ref('ext_csv') }} e
left join {{ ref('ext_json') }} j using (id)
left join {{ ref('ext_partitioned') }} p using (id)
