-- Credit repair (信用修复, NDRC 2023 rules): a subject asks to end a negative record's
-- publication early, after its minimum period (publication.yaml); the credit office approves
-- or rejects within its working days. One row per application, replaced by a newer version
-- when decided. An approved record leaves public and bank views at once; it stays in the
-- class table for the credit office, the usage log and the retention rules.
CREATE TABLE IF NOT EXISTS {db}.repairs
(
    repair_id       String,
    class_code      LowCardinality(String),
    record_key      String,
    subject_id      String,
    subject_kind    LowCardinality(String),
    severity        LowCardinality(String),
    applicant       String,
    applicant_role  LowCardinality(String),
    grounds         String,
    status          LowCardinality(String),
    reason          String,
    decided_by      String,
    applied_on      Date32,
    due_on          Date32,
    decided_on      Nullable(Date32),
    updated_at      DateTime64(3),
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY repair_id
