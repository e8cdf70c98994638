
select 1 as "GROUP"
