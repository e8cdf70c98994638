
select cast('1.2345' as {{ type_numeric() }}) as numeric_col
