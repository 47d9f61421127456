-- Runs once, when the ClickHouse data volume is empty (the image's docker-entrypoint-initdb.d),
-- as CLICKHOUSE_USER (`credit`, the platform's writer, with SQL access management).
-- Tables are not created here: every credit process applies the platform's DDL
-- (sinks/ddl/*.sql + one table per catalog class, all IF NOT EXISTS) when it starts.

CREATE DATABASE IF NOT EXISTS credit;

-- Analysts do not read these tables: raw tables hold citizen IDs, and no SQL filter stops
-- substring()/hex()/concat() from rebuilding one. `credit analyst-ddl` prints the analysts'
-- views (personal columns dropped or pseudonymized) in `credit_analyst`, the read-only role
-- `credit_analyst` granted only them, and its settings profile (readonly, memory, time and
-- result limits the role cannot change); run its output as this user after the first start.
