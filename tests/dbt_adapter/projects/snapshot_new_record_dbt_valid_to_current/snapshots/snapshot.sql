
{% snapshot snapshot_actual %}
    select * from {{target.database}}.{{target.schema}}.seed
{% endsnapshot %}
