
{{ config(materialized='table') }}
select *
from {{ ref('chipmunks_stage') }}
