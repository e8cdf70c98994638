{{ config(incremental_strategy='merge', unique_key='id', merge_exclude_columns=['created_at', 'note']) }}
select * from {{ ref('src') }}
