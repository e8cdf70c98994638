

{{ config(alias='duped_alias') }}

select 1 as id

