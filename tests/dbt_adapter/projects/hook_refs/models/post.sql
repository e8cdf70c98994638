
select 'end' as test_state
