
select 1 as quite_long_column_name
