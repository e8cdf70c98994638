
select tested_column, length(tested_column) as col_len from {{ ref('my_upstream_model')}}
