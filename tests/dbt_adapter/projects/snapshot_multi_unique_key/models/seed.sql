
select * from {{target.database}}.{{target.schema}}.seed
