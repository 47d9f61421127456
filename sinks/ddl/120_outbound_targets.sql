-- Outbound targets (issue 23: 向省级信用信息共享平台全量推送, 互联网+监管, 大数据交换): where
-- stored records flow out to, one row per target replaced by a newer version at each change.
-- kind: http (POST to `address`) or directory (files into the 前置系统 exchange folder
-- `address`); classes: empty = every class; returns_as: the provider name the target's own
-- 回流 feed reports under — its records are never sent back to it. districts / industries /
-- public_only: a bulk push to an institution by region or industry (seed 004 #6: 对依法公开的
-- 信息 … 按照区域、行业等维度批量推送) — district code prefixes, 国民经济行业分类 substrings, and
-- only the classes the catalog discloses to the public.
CREATE TABLE IF NOT EXISTS {db}.outbound_targets
(
    name        String,
    kind        LowCardinality(String),
    address     String,
    format      LowCardinality(String),
    classes     Array(String),
    returns_as  String,
    districts   Array(String),
    industries  Array(String),
    public_only UInt8,
    created_by  String,
    created_at  DateTime64(3),
    removed_at  Nullable(DateTime64(3)),
    updated_at  DateTime64(3),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name
