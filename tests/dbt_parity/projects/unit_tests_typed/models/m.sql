select s.id, s.amount * 2 as doubled, s.at, date_trunc('day', s.at) as day, s.flag, upper(s.name) as name,
       s.d, s.f / 3 as third, c.label
from {{ ref('src') }} s left join {{ ref('codes') }} c on s.id = c.code
