-- Semantic search: the 3 best products for each customer query.
select
    n.query_key as query_id,
    q.query,
    n.rank,
    n.item_key as product_id,
    p.title,
    round(n.score, 4) as similarity
from {{ predsql.nearest(ref('query_embeddings'), 'embedding',
                        ref('product_embeddings'), 'embedding',
                        k=3, query_key='query_id', item_key='product_id') }} as n
join {{ ref('query_embeddings') }} as q on q.query_id = n.query_key
join {{ ref('product_embeddings') }} as p on p.product_id = n.item_key
