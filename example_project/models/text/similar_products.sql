-- Item to item: the 5 products most similar to each product (cosine), itself excluded.
select
    n.query_key as product_id,
    n.rank,
    n.item_key as similar_product_id,
    s.title as similar_title,
    round(n.score, 4) as similarity
from {{ predsql.nearest(ref('product_embeddings'), 'embedding',
                        ref('product_embeddings'), 'embedding',
                        k=5, key='product_id', exclude_self=true) }} as n
join {{ ref('product_embeddings') }} as s on s.product_id = n.item_key
