
select
    1 as actual,
    null as expected
