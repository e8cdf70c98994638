{% macro archive_events(before) %}
  {% do run_query("create or replace table events_archive as select * from " ~ ref('events') ~ " where loaded_at < '" ~ before ~ "'") %}
{% endmacro %}

{% macro label(kind) %}{{ return(adapter.dispatch('label', 'ops_pkg')(kind)) }}{% endmacro %}
{% macro default__label(kind) %}{{ return("default " ~ kind) }}{% endmacro %}
{% macro duckdb__label(kind) %}{{ return("duckdb " ~ kind) }}{% endmacro %}
