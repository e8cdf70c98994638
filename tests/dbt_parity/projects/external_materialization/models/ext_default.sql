select range as id, 'r' || range as label, range * 1.5 as score, date '2024-01-01' + range::int as day
from range(3)
