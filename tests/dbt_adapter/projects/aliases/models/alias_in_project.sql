

select {{ string_literal(this.name) }} as tablename

