select count(*) as n from {{ ref('base') }}
