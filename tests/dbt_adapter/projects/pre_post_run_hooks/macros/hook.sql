
{% macro hook() %}
  select 1
{% endmacro %}
