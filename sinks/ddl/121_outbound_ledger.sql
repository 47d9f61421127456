-- The per-target ledger of outbound changes (credit.outbound): one row per delivery, replaced
-- by a newer version as it moves queued → acked (or failed, retried). action: upsert (a
-- stored record version), withdraw (a record sent before, now under objection, deleted or
-- repaired), held (a version found while withheld: not sent until released). seq numbers a
-- record's changes for the target, so a delivery found again after a crash has the same id.
CREATE TABLE IF NOT EXISTS {db}.outbound_ledger
(
    target          String,
    delivery_id     String,
    class_code      LowCardinality(String),
    record_key      String,
    record_version  UInt64,
    subject_id      String,
    action          LowCardinality(String),
    seq             UInt32,
    state           LowCardinality(String),
    attempts        UInt32,
    last_error      String,
    queued_at       DateTime64(3),
    acked_at        Nullable(DateTime64(3)),
    updated_at      DateTime64(3),
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (target, record_key, delivery_id)
