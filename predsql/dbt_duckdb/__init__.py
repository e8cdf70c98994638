"""What dbt-duckdb adds to dbt and real projects use: profile keys (`profile`), sources
read from files (`sources`), the `external` materialization's files (`external`)."""
