{{ config(format='json') }}
select id, label, day from {{ ref('ext_default') }} where id > 0
