select id, status from {{ ref('orders_ts') }} where dbt_valid_to is null
