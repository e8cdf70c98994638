
select * from {{ ref('snapshot_actual') }}
