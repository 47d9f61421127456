-- The upload ledger: what a provider handed over, per upload (file, API request, poll run).
CREATE TABLE IF NOT EXISTS {db}.uploads
(
    upload_id     String,
    class_code    LowCardinality(String),
    provider      LowCardinality(String),
    channel       LowCardinality(String),
    source_name   String,
    received      UInt64,
    sent          UInt64,
    rejected      UInt64,
    started_at    DateTime64(3),
    finished_at   DateTime64(3),
    -- the catalog department the provider reported as (`credit publish --department`, the
    -- API key's department); '' where the channel did not know it. Last, as an upgrade
    -- adds it to an older ledger, so both have one column order
    department    LowCardinality(String) DEFAULT '',
    -- the department's district unit (6-digit 市/区 code, '' = city level) and the period
    -- the data covers (declared, or the span of the rows' event dates; NULL if unknown)
    district      LowCardinality(String) DEFAULT '',
    period_start  Nullable(Date32),
    period_end    Nullable(Date32)
)
ENGINE = ReplacingMergeTree(finished_at)
ORDER BY upload_id
-- insert deduplication: the sink's re-sent batch after a crash is dropped (sinks/writer.py)
SETTINGS non_replicated_deduplication_window = {dedup_window}
