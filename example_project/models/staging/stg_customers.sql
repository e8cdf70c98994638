select
    customer_id,
    plan,
    tenure_months,
    monthly_spend,
    support_tickets
from {{ ref('customers') }}
