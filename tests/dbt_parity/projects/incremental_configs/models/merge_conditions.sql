{{ config(incremental_strategy='merge', unique_key=['id', 'grp'], merge_update_condition="DBT_INTERNAL_SOURCE.value > DBT_INTERNAL_DEST.value", merge_insert_condition="DBT_INTERNAL_SOURCE.grp = 'a'") }}
select * from {{ ref('src') }}
