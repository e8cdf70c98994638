{{ config(incremental_strategy='merge', unique_key='id', merge_update_columns=['value']) }}
select * from {{ ref('src') }}
