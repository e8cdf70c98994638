{{ config(materialized='incremental') }}
{% call set_sql_header(config) %}
set session time zone 'America/Lima';
{%- endcall %}
select current_setting('timezone') as tz, {{ 2 if is_incremental() else 1 }} as run_no
