
select * from {{ ref('data_intersect_empty') }}
{{ intersect() }}
select * from {{ ref('data_intersect_empty') }}
