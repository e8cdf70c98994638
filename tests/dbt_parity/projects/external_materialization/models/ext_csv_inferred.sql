{{ config(location='out/inferred.csv') }}
select 1 as a, 'x,y' as b
