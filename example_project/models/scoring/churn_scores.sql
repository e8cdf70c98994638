-- One row per customer with the model's churn probability.
select
    customer_id,
    plan,
    tenure_months,
    churn_probability(plan, tenure_months, monthly_spend, support_tickets) as churn_probability
from {{ ref('stg_customers') }}
