-- The sink's batch intents: before inserting a batch the sink records, per source partition,
-- the offset range it is about to insert. After a crash between insert and offset commit the
-- restarted sink re-forms exactly these ranges, so their insert deduplication tokens match
-- and ClickHouse drops the re-insert (sinks/batches.py).
CREATE TABLE IF NOT EXISTS {db}.sink_batches
(
    group_id      String,
    topic         String,
    partition     Int32,
    first_offset  Int64,
    last_offset   Int64,
    written_at    DateTime64(3),
    -- every range of the batch this one was inserted with (`sinks.batches.describe`)
    batch         String DEFAULT ''
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (group_id, topic, partition)
