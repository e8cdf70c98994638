
select 'start' as test_state
