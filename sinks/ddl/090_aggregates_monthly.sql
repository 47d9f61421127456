-- Monthly history per subject × utility/fund × month (issue #6), unrolled from the `monthly`
-- column of every `aggregates` row by 091_aggregates_monthly_mv.sql. Each emission rewrites
-- the months it holds with a higher version, so a late or corrected bill for three months
-- ago corrects that month's row; months older than the state's 24-month window keep the
-- last value they were emitted with. Funds: usage = head_count, amount = contribution.
CREATE TABLE IF NOT EXISTS {db}.aggregates_monthly
(
    subject_id        String,
    subject_kind      LowCardinality(String),
    kind              LowCardinality(String),
    month             Date,
    usage             Float64,
    usage_reported    UInt8,
    amount            Float64,
    arrears_flag      UInt8,
    arrears_amount    Float64,
    paid_on_time      UInt8,
    head_count        UInt32,
    contribution      Float64,
    due               Float64,
    version           UInt64,
    updated_at        DateTime64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (subject_id, kind, month)
