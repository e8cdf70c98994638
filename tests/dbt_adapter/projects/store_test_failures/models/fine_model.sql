
select * from {{ ref('people') }}
