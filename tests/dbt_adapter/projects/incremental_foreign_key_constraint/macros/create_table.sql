
{% macro create_table_macro() %}
create table if not exists numbers (n int not null primary key)
{% endmacro %}
