

{{ config(alias='override_alias') }}

select {{ string_literal(this.name) }} as tablename

