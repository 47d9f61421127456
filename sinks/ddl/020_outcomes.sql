-- One row per provider row and its latest fate, so an upload's counts add up even when two
-- rows are the same record (stored once in the class table, counted twice here).
CREATE TABLE IF NOT EXISTS {db}.outcomes
(
    upload_id     String,
    row_key       String,
    class_code    LowCardinality(String),
    provider      LowCardinality(String),
    subject_kind  LowCardinality(String),
    outcome       Enum8('stored' = 1, 'rejected' = 2),
    record_key    String,
    reason_codes  Array(LowCardinality(String)),
    received_at   DateTime64(3),
    decided_at    DateTime64(3)
)
ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (upload_id, row_key)
-- insert deduplication: the sink's re-sent batch after a crash is dropped (sinks/writer.py)
SETTINGS non_replicated_deduplication_window = {dedup_window}
