select * from {{ ref('s') }}
