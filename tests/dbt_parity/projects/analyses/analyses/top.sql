select * from {{ ref('base') }} where id > {{ var('cut') }}
