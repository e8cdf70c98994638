
with seed_data as (

    select * from {{ ref('data_hash') }}

),

data as (

    select
        {{ replace_empty('input_1') }} as input_1,
        {{ replace_empty('output') }} as output
    from seed_data

)

select
    {{ hash('input_1') }} as actual,
    output as expected

from data
