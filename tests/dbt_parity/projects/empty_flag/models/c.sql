{{ config(materialized='table') }}
select s.id, s.x, b.id as b_id from {{ source('raw', 's') }} s join {{ ref('b') }} b on s.id = b.id
