select * from {{ ref('bad_types') }}
