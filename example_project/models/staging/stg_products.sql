select product_id, name, category, price, weight_kg, rating, reviews, return_rate, age_days
from {{ ref('products') }}
