
select
  {sql_value} as tested_column
