-- The ML call inside aggregates.
select
    plan,
    count(*) as customers,
    round(avg(churn_probability(plan, tenure_months, monthly_spend, support_tickets)), 4)
        as avg_churn_probability,
    count(*) filter (
        where churn_probability(plan, tenure_months, monthly_spend, support_tickets)
              > {{ var('churn_threshold') }}
    ) as at_risk
from {{ ref('stg_customers') }}
group by plan
order by plan
