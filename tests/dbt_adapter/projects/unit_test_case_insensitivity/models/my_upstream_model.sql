
select 1 as tested_column
