
select * from {{ ref('raw_seed') }}
