-- Spot checks (抽查, seed 003: 虚报、误报、漏报): the credit office draws a random sample of one
-- department's stored records of a class; a reviewer records a verdict per record, and the
-- check closes with the omissions found against the department's own books (漏报). One row
-- per sampled record (item '' is the check itself), replaced by a newer version as it is
-- judged. The sample is fixed by its seed, so the same check always names the same records.
CREATE TABLE IF NOT EXISTS {db}.spot_checks
(
    check_id     String,
    record_key   String,
    department   LowCardinality(String),
    class_code   LowCardinality(String),
    subject_id   String,
    seed         UInt64,
    verdict      LowCardinality(String),
    note         String,
    omissions    UInt32,
    reviewer     String,
    created_by   String,
    created_at   DateTime64(3),
    reviewed_at  Nullable(DateTime64(3)),
    updated_at   DateTime64(3),
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (check_id, record_key)
