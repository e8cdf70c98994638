-- For each customer, the 5 products nearest the mean embedding of their purchases,
-- never one they already bought.
select
    n.query_key as customer_id,
    n.rank,
    n.item_key as product_id,
    p.title,
    p.category,
    round(n.score, 4) as score
from {{ predsql.nearest(ref('customer_taste'), 'taste',
                        ref('product_embeddings'), 'embedding', k=5,
                        query_key='customer_id', item_key='product_id',
                        exclude=ref('purchases')) }} as n
join {{ ref('product_embeddings') }} as p on p.product_id = n.item_key
