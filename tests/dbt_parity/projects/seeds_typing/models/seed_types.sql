select 'mixed' as seed, column_name, data_type
from information_schema.columns where table_name = 'mixed'
