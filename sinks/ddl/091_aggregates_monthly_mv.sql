-- Every row landed in `aggregates` → one `aggregates_monthly` row per month it carries.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.aggregates_monthly_mv TO {db}.aggregates_monthly
AS SELECT
    subject_id, subject_kind, kind,
    toDate(concat(m.1, '-01')) AS month,
    m.2 AS usage, m.3 AS usage_reported, m.4 AS amount, m.5 AS arrears_flag,
    m.6 AS arrears_amount, m.7 AS paid_on_time, m.8 AS head_count, m.9 AS contribution,
    m.10 AS due, version, updated_at
FROM {db}.aggregates
ARRAY JOIN monthly AS m
