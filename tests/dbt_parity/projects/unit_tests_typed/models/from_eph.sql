select id, amount + 1 as plus from {{ ref('eph') }}
