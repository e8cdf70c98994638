{{ config(incremental_strategy='merge', unique_key='id', incremental_predicates=["DBT_INTERNAL_DEST.grp = 'a'"]) }}
select * from {{ ref('src') }}
