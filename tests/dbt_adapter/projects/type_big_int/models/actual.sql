
select cast('9223372036854775800' as {{ type_bigint() }}) as bigint_col
