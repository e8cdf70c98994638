{{ config(options={'partition_by': 'region', 'overwrite_or_ignore': true}) }}
select id, case when id % 2 = 0 then 'eu' else 'us' end as region from {{ ref('ext_default') }}
