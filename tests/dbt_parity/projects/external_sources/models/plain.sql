select * from {{ source('plain', 'seeded') }}
