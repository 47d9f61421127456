-- Authorizations (授权, seed 004 items 11-13): an enterprise lets one financial institution
-- read its authorized-only classes for a purpose and a period. Revocation sets revoked_at
-- and takes effect at once; rows are never deleted (the grant history is evidence).
CREATE TABLE IF NOT EXISTS {db}.authorizations
(
    auth_id      String,
    subject_id   String,
    institution  String,
    purpose      String,
    valid_from   Date32,
    valid_to     Date32,
    granted_by   String,
    granted_at   DateTime64(3),
    revoked_at   Nullable(DateTime64(3)),
    revoked_by   String,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (subject_id, auth_id)
