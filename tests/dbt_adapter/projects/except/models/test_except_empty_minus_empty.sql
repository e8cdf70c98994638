
select * from {{ ref('data_except_empty') }}
{{ except() }}
select * from {{ ref('data_except_empty') }}
