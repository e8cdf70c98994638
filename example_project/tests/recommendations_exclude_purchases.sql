-- No customer is recommended a product they already bought.
select r.customer_id, r.product_id
from {{ ref('recommendations') }} as r
join {{ ref('purchases') }} as b using (customer_id, product_id)
