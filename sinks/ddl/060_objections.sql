-- Objections (异议, seed 003 art. 20-21; seed 004 item 13): one row per objection, replaced
-- by a newer version at each step (filed → accepted → resolved → informed). While an
-- objection is open the record is withheld from every reader but the applicant and admins.
-- `provider` is the record's ingest_provider: the department whose queue it lands in.
CREATE TABLE IF NOT EXISTS {db}.objections
(
    objection_id    String,
    class_code      LowCardinality(String),
    record_key      String,
    record_version  UInt64,
    subject_id      String,
    subject_kind    LowCardinality(String),
    provider        LowCardinality(String),
    applicant       String,
    applicant_role  LowCardinality(String),
    grounds         String,
    stage           LowCardinality(String),
    resolution      LowCardinality(String),
    reason          String,
    resolved_by     String,
    filed_on        Date32,
    accepted_on     Nullable(Date32),
    resolved_on     Nullable(Date32),
    informed_on     Nullable(Date32),
    updated_at      DateTime64(3),
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY objection_id
