{% macro create_audit(days=7, note='none') %}
  {% set sql %}
    create or replace table audit as
    select {{ days }} as days, '{{ note }}' as note, (select count(*) from {{ ref('event_counts') }}) as kinds
  {% endset %}
  {% do run_query(sql) %}
  {{ log("audit written", info=True) }}
{% endmacro %}

{% macro grant_kinds(role) %}
  {% call statement('kinds', fetch_result=True) %}
    select kind from {{ ref('event_counts') }} order by kind
  {% endcall %}
  {% set kinds = load_result('kinds')['data'] | map(attribute=0) | list %}
  {% do run_query("create or replace table grants as select '" ~ role ~ "' as role, '" ~ (kinds | join(',')) ~ "' as kinds, '" ~ ops_pkg.label(role) ~ "' as label") %}
  {#- dbt-duckdb rolls back what a statement block began unless the macro commits -#}
  {% do run_query('commit') %}
{% endmacro %}

{% macro fails_midway() %}
  {% do run_query("create or replace table before_failure as select 1 as x") %}
  {% do run_query("select * from no_such_table") %}
  {% do run_query("create or replace table after_failure as select 1 as x") %}
{% endmacro %}

{% macro refuses() %}
  {{ exceptions.raise_compiler_error("refusing to run on " ~ target.name) }}
{% endmacro %}
