
select * from {{ ref('snapshot_customers') }}
