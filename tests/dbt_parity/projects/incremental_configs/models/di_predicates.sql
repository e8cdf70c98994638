{{ config(incremental_strategy='delete+insert', unique_key='id', incremental_predicates=["grp = 'a'"]) }}
select * from {{ ref('src') }}
