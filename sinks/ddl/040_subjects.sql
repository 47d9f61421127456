-- The subject registry as the stream builds it: canonical name and district per subject.
CREATE TABLE IF NOT EXISTS {db}.subjects
(
    subject_id    String,
    subject_kind  LowCardinality(String),
    name          String,
    district      LowCardinality(String),
    org_code      String,
    reg_no        String,
    registered    UInt8,
    updated_at    DateTime64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY subject_id
-- insert deduplication: the sink's re-sent batch after a crash is dropped (sinks/writer.py)
SETTINGS non_replicated_deduplication_window = {dedup_window}
