
select cast('2021-01-01 01:01:01' as {{ type_timestamp() }}) as timestamp_col
