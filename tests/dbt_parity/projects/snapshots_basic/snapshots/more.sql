{% snapshot orders_check %}
    {{ config(target_schema='snapshots', unique_key='id', strategy='check',
              check_cols=['status'], invalidate_hard_deletes=True) }}
    select id, status, amount from {{ ref('orders') }}
{% endsnapshot %}

{% snapshot orders_check_all %}
    {{ config(unique_key=['id', 'region'], strategy='check', check_cols='all',
              hard_deletes='new_record') }}
    select * from {{ ref('orders') }}
{% endsnapshot %}
