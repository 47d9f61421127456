-- The usage log (使用记录, seed 003 art. 18; seed 004 item 12 来源可溯、去向可查): one row per
-- read of a subject's data, refused attempts included. Kept at least 5 years.
CREATE TABLE IF NOT EXISTS {db}.audit_log
(
    at             DateTime64(3),
    subject_id     String,
    reader_role    LowCardinality(String),
    reader         String,
    organization   String,
    what           String,
    purpose        String,
    auth_id        String,
    outcome        LowCardinality(String),
    detail         String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (subject_id, at)
TTL toDate(at) + INTERVAL 5 YEAR
