-- The ML call in WHERE: only customers above the threshold, highest risk first.
select
    customer_id,
    plan,
    churn_probability(plan, tenure_months, monthly_spend, support_tickets) as risk
from {{ ref('stg_customers') }}
where churn_probability(plan, tenure_months, monthly_spend, support_tickets)
      > {{ var('churn_threshold') }}
order by risk desc
