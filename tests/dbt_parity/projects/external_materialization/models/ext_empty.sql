select 1 as id, 'a' as v where false
