
select * from {{ ref('data_intersect_b') }}
{{ intersect() }}
select * from {{ ref('data_intersect_a') }}
