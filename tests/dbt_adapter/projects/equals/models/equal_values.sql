
with data as (

    select * from {{ ref('data_equals') }}

)

select *
from data
where
  {{ equals('x', 'y') }}
