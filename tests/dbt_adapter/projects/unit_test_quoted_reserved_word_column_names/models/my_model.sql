
select
    * from {{ ref('my_upstream_model')}}
