{{ config(incremental_strategy='delete+insert', unique_key=['id', 'grp'], incremental_predicates=["DBT_INCREMENTAL_TARGET.value < 100"]) }}
select * from {{ ref('src') }}
