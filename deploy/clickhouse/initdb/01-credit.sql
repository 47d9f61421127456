-- Runs once, when the ClickHouse data volume is empty (the image's docker-entrypoint-initdb.d),
-- as CLICKHOUSE_USER (`credit`, the platform's writer, with SQL access management).
-- Tables are not created here: every credit process applies the platform's DDL
-- (sinks/ddl/*.sql + one table per catalog class, all IF NOT EXISTS) when it starts.

CREATE DATABASE IF NOT EXISTS credit;

-- Read-only access for analysts, report jobs and dashboards. Give it to a person with
--   CREATE USER alice IDENTIFIED WITH sha256_password BY '…' DEFAULT ROLE credit_reader;
-- (usage of personal data is logged by the platform's API, not by direct SQL: grant sparingly)
CREATE ROLE IF NOT EXISTS credit_reader;
GRANT SELECT ON credit.* TO credit_reader;

-- readonly = 2: no writes, but clients may still set per-query settings (Grafana, clickhouse-connect)
CREATE SETTINGS PROFILE IF NOT EXISTS credit_reader_profile
    SETTINGS readonly = 2, max_execution_time = 60, max_result_rows = 1000000
    TO credit_reader;
