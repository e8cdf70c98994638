
select * from {{ ref('seed_pipe_separated') }}

