
select
  cast('short' as varchar(5)) as tested_column
