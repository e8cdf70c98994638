
select * from {{ ref('seed_actual') }}

