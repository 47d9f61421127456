-- Every refused record, with the provider's row and machine-readable reasons (nothing lost).
-- The payload has banned personal data removed before it ever reaches this table.
CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    dl_key        String,
    class_code    LowCardinality(String),
    provider      LowCardinality(String),
    channel       LowCardinality(String),
    upload_id     String,
    row           Nullable(Int64),
    source_key    String,
    stage         LowCardinality(String),
    reason_codes  Array(LowCardinality(String)),
    reasons       String,
    payload       String,
    raw_b64       String,
    topic         String,
    partition     Int32,
    offset        Int64,
    received_at   DateTime64(3),
    rejected_at   DateTime64(3),
    replayed      UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(rejected_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (upload_id, dl_key)
-- insert deduplication: the sink's re-sent batch after a crash is dropped (sinks/writer.py)
SETTINGS non_replicated_deduplication_window = {dedup_window}
