
select * from {{ this.schema }}.seed_expected

