
select
    tested_column from {{ ref('my_upstream_model')}}
