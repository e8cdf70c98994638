{{ config(materialized='table', sql_header="set session time zone 'Europe/Oslo';") }}
select current_setting('timezone') as tz
