-- One 384-d embedding per catalog product (title and description).
select
    product_id,
    title,
    category,
    embed_text(title || '. ' || description) as embedding
from {{ ref('catalog') }}
