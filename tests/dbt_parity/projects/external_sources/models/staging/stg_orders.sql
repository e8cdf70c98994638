select id, customer, amount, ordered_at from {{ source('raw', 'orders') }}
