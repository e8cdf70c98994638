
select 1 as col
