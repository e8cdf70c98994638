
select * from {{ ref('fine_model') }}
where false
