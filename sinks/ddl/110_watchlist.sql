-- Borrower monitoring (seed 004 #8: 获贷企业信用状况的动态监测…及时推送接入机构): a financial
-- institution watches a subject it holds an authorization of; a newer version of the row ends
-- the watch (`removed_at`). A watch alerts only while that authorization is in force.
CREATE TABLE IF NOT EXISTS {db}.watchlist
(
    watch_id      String,
    institution   String,
    subject_id    String,
    webhook       String,
    created_by    String,
    created_at    DateTime64(3),
    removed_at    Nullable(DateTime64(3)),
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY watch_id
