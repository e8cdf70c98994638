-- A FLOAT[2] array output, unpacked for a dashboard.
with projected as (
    select
        product_id,
        name,
        category,
        product_embedding_2d(price, weight_kg, rating, reviews, return_rate, age_days) as xy
    from {{ ref('stg_products') }}
)
select product_id, name, category, xy, xy[1] as x, xy[2] as y
from projected
