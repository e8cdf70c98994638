{{ config(materialized='incremental', on_schema_change='append_new_columns') }}
select {{ var('inc_id', 1) }} as id, 'v' as v
