"""Who owes: the risk list and risk monitoring, read from the figures (`sinks.write.figures`).

Both rank subjects by the utilities they are in arrears with, then the amount, from the one
result every reader shares — the `aggregates` rows — so a subject at the top of the list
has a report that says the same: arrears settled by a payment, withheld under an objection,
deleted, repaired or expired are not counted here either. Before issue 20 this read the
arrears records themselves, and ranked a subject by ¥309,114 whose report said "no arrears".
Names, districts and industries are looked up for the subjects listed only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.catalog import attribute_class, class_roles, default_catalog
from schemas.codes import mask_subject
from sinks.exceptions import QueryError
from sinks.store import Store
from streams.core.aggregates import UTILITY_KIND

_ROLES = class_roles(default_catalog())
ARREARS_CLASSES = tuple(code for code, role in _ROLES.items() if role == "utility_arrears")
INDUSTRY_CLASS = attribute_class(default_catalog(), "industry")
UTILITY_LABELS = {kind: label for label, kind in UTILITY_KIND.items()}  # water → 水费


def _in_district(db: str, condition: str) -> str:
    """Subjects of a district: the registry's, or for those it lacks, their arrears records'."""
    parts = [f"SELECT subject_id FROM {db}.subjects FINAL WHERE {condition}"] + [
        f"SELECT subject_id FROM {db}.cls_{code} WHERE {condition}" for code in ARREARS_CLASSES
    ]
    return f"subject_id IN ({' UNION ALL '.join(parts)})"


def _ranked(store: Store, where: list[str], params: dict[str, Any], having: str,
            limit: int) -> list[dict[str, Any]]:  # fmt: skip
    """Per subject in arrears: utilities, which, amount owed, the part long overdue, the
    longest overdue and since when, best first."""
    kinds = ", ".join(f"'{k}'" for k in UTILITY_LABELS)
    sql = (
        "SELECT subject_id, any(subject_kind) AS subject_kind, count() AS utilities, "
        "arraySort(groupArray(toString(kind))) AS kinds, "
        "round(sum(arrears_amount), 2) AS arrears_amount, "
        "round(sum(JSONExtractFloat(extra, 'long_overdue_amount')), 2) AS long_overdue_amount, "
        "max(days_overdue) AS max_days_overdue, "
        "min(JSONExtractString(extra, 'arrears_since')) AS since "
        f"FROM {store.database}.aggregates FINAL "
        f"WHERE facts > 0 AND arrears_flag = 1 AND kind IN ({kinds}) AND {' AND '.join(where)} "
        f"GROUP BY subject_id {having} "
        "ORDER BY utilities DESC, arrears_amount DESC, subject_id LIMIT {n:UInt32}"
    )
    return store.query(sql, {**params, "n": limit})


def risk_list(store: Store, limit: int = 10, district: str | None = None) -> list[dict[str, Any]]:
    """Subjects in arrears with the most utilities, then the largest amounts (masked IDs)."""
    where, params = ["1"], {}
    if district:
        where.append(_in_district(store.database, "district = {d:String}"))
        params["d"] = district
    rows = _ranked(store, where, params, "", limit)
    names = names_of(store, [r["subject_id"] for r in rows]) if rows else {}
    out = []
    for r in rows:
        sid, kind = r["subject_id"], r["subject_kind"]
        extra = names.get(sid, {})
        out.append({
            "subject_id": mask_subject(sid, kind), "kind": kind,
            "name": extra.get("name", ""), "district": extra.get("district", ""),
            "utilities": r["utilities"], "arrears_amount": r["arrears_amount"],
            "max_days_overdue": r["max_days_overdue"],
        })  # fmt: skip
    return out


def _utility_kind(utility: str) -> str:
    """`water` or its label `水费` → `water`; anything else is refused with the choices."""
    kind = UTILITY_KIND.get(utility, utility)
    if kind not in UTILITY_LABELS:
        choices = ", ".join(f"{k} ({v})" for k, v in UTILITY_LABELS.items())
        raise QueryError(f"utility: one of {choices}, not {utility!r} / 未知的费用类型")
    return kind


def _owes(db: str) -> str:
    """Subjects in arrears with the utility `{u}`."""
    return (f"subject_id IN (SELECT subject_id FROM {db}.aggregates FINAL WHERE kind = {{u:String}} "
            "AND facts > 0 AND arrears_flag = 1)")  # fmt: skip


def risk_monitor(
    store: Store,
    *,
    district: str | None = None,
    industry: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    min_utilities: int = 2,
    min_days_overdue: int = 0,
    utility: str | None = None,
    min_amount: float = 0.0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Subjects in arrears with several utilities (seed-002 欠缴费用 tables).

    `district` matches as a prefix (`3202` is the whole city); `industry` as a substring of
    the 国民经济行业分类 of `ent_industry`, so it keeps legal persons only; `since`/`until`
    keep the utilities whose open debts span overlaps that window; `utility` (`water` or
    `水费`) keeps subjects in arrears with that utility, `min_amount` those owing at least that
    much in all. Per subject: how many utilities, which, the total owed, the part at least `LONG_OVERDUE_DAYS` overdue, the
    longest overdue and the start of the oldest open debt.
    """
    db = store.database
    params: dict[str, Any] = {"mu": min_utilities, "md": min_days_overdue}
    where = ["1"]
    if district:
        where.append(_in_district(db, "startsWith(district, {d:String})"))
        params["d"] = district
    if since:
        where.append("JSONExtractString(extra, 'arrears_until') >= {since:String}")
        params["since"] = since.isoformat()
    if until:
        where.append("JSONExtractString(extra, 'arrears_since') <= {until:String}")
        params["until"] = until.isoformat()
    if industry:
        where.append(
            f"subject_id IN (SELECT subject_id FROM {db}.cls_{INDUSTRY_CLASS} FINAL "
            "WHERE positionUTF8(ifNull(industry, ''), {ind:String}) > 0)"
        )
        params["ind"] = industry
    if utility:
        where.append(_owes(db))
        params["u"] = _utility_kind(utility)
    params["ma"] = float(min_amount)
    having = ("HAVING utilities >= {mu:UInt32} AND max_days_overdue >= {md:Int64} "
              "AND arrears_amount >= {ma:Float64}")  # fmt: skip
    return _monitored(store, _ranked(store, where, params, having, limit))


def _monitored(store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The risk monitor's rows with names, district and industry (masked person IDs)."""
    names = names_of(store, [r["subject_id"] for r in rows]) if rows else {}
    out = []
    for r in rows:
        extra = names.get(r["subject_id"], {"name": "", "district": "", "industry": None})
        out.append({
            "subject_id": mask_subject(r["subject_id"], r["subject_kind"]),
            "kind": r["subject_kind"], "name": extra["name"], "district": extra["district"],
            "industry": extra["industry"], "utilities": r["utilities"],
            "utility_types": sorted(UTILITY_LABELS[k] for k in r["kinds"]),
            "arrears_amount": r["arrears_amount"],
            "long_overdue_amount": r["long_overdue_amount"],
            "max_days_overdue": r["max_days_overdue"],
            "arrears_since": dt.date.fromisoformat(r["since"]) if r["since"] else None,
        })  # fmt: skip
    return out


def names_of(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Name, district and industry of a few subjects: the registry is ordered by subject id,
    so this is a primary-key lookup (in the class tables' monthly parts it would be a scan)."""
    db = store.database
    out: dict[str, dict[str, Any]] = {
        r["subject_id"]: {"name": r["name"], "district": r["district"], "industry": None}
        for r in store.query(
            f"SELECT subject_id, name, district FROM {db}.subjects FINAL "
            "WHERE subject_id IN {ids:Array(String)}",
            {"ids": ids},
        )
    }
    missing = [i for i in ids if i not in out]
    if missing:  # not in the registry (yet): from the arrears records themselves
        parts = [
            f"SELECT subject_id, subject_name, district FROM {db}.cls_{code} "
            "WHERE subject_id IN {ids:Array(String)}"
            for code in ARREARS_CLASSES
        ]
        for r in store.query(
            "SELECT subject_id, any(subject_name) AS name, any(district) AS district "
            f"FROM ({' UNION ALL '.join(parts)}) GROUP BY subject_id",
            {"ids": missing},
        ):
            out[r["subject_id"]] = {"name": r["name"], "district": r["district"], "industry": None}
    for r in store.query(
        f"SELECT subject_id, any(industry) AS industry FROM {db}.cls_{INDUSTRY_CLASS} FINAL "
        "WHERE subject_id IN {ids:Array(String)} GROUP BY subject_id",
        {"ids": ids},
    ):
        out.setdefault(r["subject_id"], {"name": "", "district": ""})["industry"] = r["industry"]
    return out
