{% test no_semantic_duplicates(model, column_name, key, threshold=0.95) %}
-- Pairs of rows whose embeddings are closer than `threshold` (cosine): likely the same
-- thing entered twice. Each pair is reported once.
select n.query_key as {{ key }}, n.item_key as duplicate_of, n.score
from {{ predsql.nearest(model, column_name, model, column_name, k=1, key=key,
                        exclude_self=true) }} as n
where n.score > {{ threshold }} and n.query_key < n.item_key
{% endtest %}
