{% snapshot ts_new_record %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at', hard_deletes='new_record',
          dbt_valid_to_current="'9999-12-31 00:00:00'::timestamp",
          snapshot_meta_column_names={'dbt_is_deleted': 'is_deleted', 'dbt_valid_to': 'valid_until'}) }}
select * from {{ ref('orders') }}
{% endsnapshot %}

{% snapshot check_with_updated_at %}
{{ config(unique_key=['id', 'region'], strategy='check', check_cols=['status'], updated_at='updated_at') }}
select id, region, status, updated_at from {{ ref('orders') }}
{% endsnapshot %}

{% snapshot check_all_added %}
{{ config(unique_key='id', strategy='check', check_cols='all', schema='hist', target_schema=none) }}
select * from {{ ref('orders') }}
{% endsnapshot %}

{% snapshot ts_added %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at', alias='ts_added_alias') }}
select * from {{ ref('orders') }}
{% endsnapshot %}
