select query_id, customer_id, query, embed_text(query) as embedding
from {{ ref('customer_queries') }}
