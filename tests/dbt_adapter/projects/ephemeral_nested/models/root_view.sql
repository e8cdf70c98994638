
select * from {{ref("ephemeral")}}

