-- The mean embedding of the products each customer bought.
with elements as (
    select
        b.customer_id,
        generate_subscripts(e.embedding::FLOAT[], 1) as i,
        unnest(e.embedding::FLOAT[]) as x
    from {{ ref('purchases') }} as b
    join {{ ref('product_embeddings') }} as e using (product_id)
),
means as (
    select customer_id, i, avg(x) as x from elements group by customer_id, i
)
select customer_id, list(x order by i)::FLOAT[384] as taste, count(*) // 384 as products_bought
from means
group by customer_id
