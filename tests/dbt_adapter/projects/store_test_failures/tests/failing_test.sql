
select * from {{ ref('fine_model') }}
