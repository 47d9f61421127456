-- One alert per watched subject's new negative record or list entry (its record version), with
-- a delivery id that stays the same however often it is sent (`alert_id`), and its delivery:
-- attempts, the last error, when the institution's endpoint took it.
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id       String,
    watch_id       String,
    institution    String,
    subject_id     String,
    class_code     LowCardinality(String),
    record_key     String,
    record_version UInt64,
    kind           LowCardinality(String),
    event_date     Date32,
    detected_at    DateTime64(3),
    delivered_at   Nullable(DateTime64(3)),
    attempts       UInt32,
    last_error     String,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY alert_id
