
select * from {{ source('seed_sources', 'raw_source') }} as raw_source
