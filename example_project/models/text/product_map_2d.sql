-- The catalog on a plane: PCA of the 384-d embeddings to 2-D, for a scatter plot.
-- The PCA function takes the 384 components as arguments (one [N, 384] ONNX input).
select
    product_id,
    title,
    category,
    embedding_2d({% for i in range(1, 385) %}embedding[{{ i }}]{{ ", " if not loop.last }}{% endfor %}) as xy
from {{ ref('product_embeddings') }}
