-- Rolling figures per subject and utility/fund, recomputed from the visible stored facts
-- (sinks/figures.py) whenever a fact or its fate changes, and daily for the day's date.
CREATE TABLE IF NOT EXISTS {db}.aggregates
(
    subject_id        String,
    subject_kind      LowCardinality(String),
    kind              LowCardinality(String),
    arrears_flag      UInt8,
    arrears_amount    Float64,
    days_overdue      Int64,
    months_in_arrears_12 UInt8,
    last_month        String,
    last_month_usage  Float64,
    last_month_amount Float64,
    avg_usage_3       Float64,
    avg_usage_6       Float64,
    avg_usage_12      Float64,
    avg_amount_3      Float64,
    avg_amount_6      Float64,
    avg_amount_12     Float64,
    consecutive_paid_months UInt16,
    last_on_time_date Nullable(Date),
    arrears_repaid    UInt8,
    extra             String,
    -- the complete months of the last 24 (streams.aggregate_figures.MONTHLY_FIELDS);
    -- 090_aggregates_monthly.sql unrolls them into the monthly history
    monthly           Array(Tuple(String, Float64, UInt8, Float64, UInt8, Float64, UInt8, UInt32, Float64, Float64)),
    version           UInt64,
    updated_at        DateTime64(3),
    -- the day the figures are as of, and how many visible facts they come from (0: the
    -- subject's last fact of this kind was withheld, deleted or expired: no figures)
    as_of             Date DEFAULT toDate(updated_at),
    facts             UInt32 DEFAULT 1
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (subject_id, kind)
SETTINGS non_replicated_deduplication_window = {dedup_window}
