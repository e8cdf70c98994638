-- Every at-risk customer must score above the threshold.
select * from {{ ref('at_risk_customers') }}
where risk <= {{ var('churn_threshold') }}
