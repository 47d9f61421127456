"""Analysts' reports over the store: the credit report of one subject, risk monitoring and
new black-list entries; collection statistics and the census are re-exported from
`sinks.read.collection` (analyst SQL runs in an engine of its own: `sinks.read.analyst_engine`).

Re-sent and corrected records count once: tables are read with FINAL, or, for the point
lookups of a report, with the same rule (highest version per key) applied after reading
(`sinks.ddl.subject_index`). Nothing here shows a natural person's ID in full (DESIGN: IDs never
leave the store unmasked); string values pass through `mask_value`, which leaves valid
USCCs readable and masks anything shaped like a citizen ID or a phone number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.catalog import Catalog, InfoClass
from schemas.codes import mask_id, mask_subject, mask_value, normalize_code
from sinks.ddl.subject_index import subject_records
from sinks.read.collection import census, collection_history, collection_stats
from sinks.read.governance import publication_window
from sinks.read.queries import current_figures, monthly_history
from sinks.read.risk import INDUSTRY_CLASS
from sinks.store import Store

# One import for the API and CLI; collection figures live in their own module.
__all__ = [
    "census",
    "collection_history",
    "collection_stats",
    "new_blacklist_entries",
    "subject_report",
]

# Red/black list classes, recognised by their catalog codes (DESIGN: 红黑名单).
ID_FIELD_CHECKS = ("citizen_id", "id_by_type")


def is_black_list(cls: InfoClass) -> bool:
    return cls.list_kind == "black"


def is_red_list(cls: InfoClass) -> bool:
    return cls.list_kind == "red"


@dataclass(frozen=True)
class _Shown:
    """Which records a report shows, and how they are flagged."""

    include_authorized: bool
    withheld: frozenset[str]
    repaired: frozenset[str]
    show_repaired: bool

    def record(self, cls: InfoClass, row: dict[str, Any], today: dt.date,
               counts: dict[str, int]) -> dict[str, Any] | None:  # fmt: skip
        """The record as the report shows it, or None when it is left out (counted)."""
        key = row["record_key"]
        if key in self.withheld:
            counts["withheld"] += 1
            return None
        window = publication_window(cls, row)
        past = window is not None and today > window[1]
        counts["beyond_publication"] += past
        repaired = key in self.repaired
        counts["repaired"] += repaired
        if (past and not self.include_authorized) or (repaired and not self.show_repaired):
            return None
        doc = {k: row[k] for k in ("record_key", "event_date")}
        doc |= {f.name: row[f.name] for f in cls.fields}
        if window is not None:
            doc |= {"published_until": window[1], "beyond_publication": past,
                    "severity": window[2], "repair_from": window[0]}  # fmt: skip
        if repaired:
            doc["repaired"] = True
        return _masked_record(cls, doc)


def _masked_record(cls: InfoClass, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        spec = cls.by_name.get(name)
        if isinstance(value, str) and value:
            id_field = name.endswith("id_no") or (
                spec is not None and spec.check in ID_FIELD_CHECKS
            )
            value = mask_id(value) if id_field else mask_value(value)
        out[name] = value
    return out


def _find_subject(store: Store, code: str) -> dict[str, Any] | None:
    """The registry entry of a USCC / ID, or of an older 组织机构代码 / 工商注册号."""
    db = store.database
    cols = "subject_id, subject_kind, name, district, registered"
    rows = store.query(
        f"SELECT {cols} FROM {db}.subjects FINAL WHERE subject_id = {{c:String}} LIMIT 1",
        {"c": code},
    )
    if not rows:
        rows = store.query(
            f"SELECT {cols} FROM {db}.subjects FINAL "
            "WHERE org_code = {c:String} OR reg_no = {c:String} LIMIT 1",
            {"c": code},
        )
    return rows[0] if rows else None


def subject_report(
    store: Store,
    catalog: Catalog,
    code: str,
    *,
    include_authorized: bool = False,
    withheld_record_keys: frozenset[str] = frozenset(),
    repaired_record_keys: frozenset[str] = frozenset(),
    show_repaired: bool = False,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The standardized credit report (标准化信用信息报告) of one legal or natural person.

    Public classes only, unless `include_authorized` (the caller has checked the
    authorization); restricted classes never. Records under objection
    (`withheld_record_keys`) are left out (Liaoning rules §21: withheld while disputed).
    Negative records past their publication period leave the public report (NDRC credit
    repair rules; the period by severity, publication.yaml) and stay, flagged, in the
    authorized one; records whose repair was approved (`repaired_record_keys`) leave every
    report but the credit office's (`show_repaired`), where they are flagged. Rolling aggregates derive from the
    authorized utility/fund classes, so only the authorized report carries them.
    """
    today = today or dt.date.today()
    wanted = normalize_code(code)
    registry = _find_subject(store, wanted)
    subject_id = str(registry["subject_id"]) if registry else wanted
    kind = str(registry["subject_kind"]) if registry else None
    levels = ("public", "authorized") if include_authorized else ("public",)
    classes = [
        c for c in catalog if c.disclosure in levels and (kind is None or c.subject_kind == kind)
    ]
    shown = _Shown(include_authorized, withheld_record_keys, repaired_record_keys, show_repaired)
    found = _sections(catalog, subject_records(store, subject_id, classes), shown, today)
    if not include_authorized:  # credit repair: a public report does not hint at them
        del found.counts["beyond_publication"], found.counts["repaired"]
    if registry is None and not found.identity_rows:
        return {"found": False, "code": mask_subject(wanted, _guess_kind(wanted))}
    first = found.identity_rows[0] if found.identity_rows else {}
    kind = kind or str(first.get("subject_kind", _guess_kind(wanted)))
    known = registry or {}
    return {
        "found": True,
        "title": "标准化信用信息报告",
        "scope": "authorized" if include_authorized else "public",
        "as_of": today.isoformat(),
        "identity": {
            "code": mask_subject(subject_id, kind),
            "kind": kind,
            "kind_label": "自然人" if kind == "natural" else "法人和其他组织",
            "name": known.get("name") or first.get("subject_name", ""),
            "district": known.get("district") or first.get("district", ""),
            "registered": bool(known.get("registered")),
            "industry": found.industry,
        },
        "lists": _list_status(catalog, found.sections),
        "classes": found.sections,
        # figures derive from the authorized utility/fund classes: authorized reports only
        "aggregates": _figures(store, subject_id) if include_authorized else [],
        "counts": {**found.counts, "classes": len(found.sections)},
    }


@dataclass
class _Found:
    """A subject's records, shaped for its report: one section per class with records."""

    sections: list[dict[str, Any]] = field(default_factory=list)
    identity_rows: list[dict[str, Any]] = field(default_factory=list)
    industry: Any = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("records", "negative_records", "withheld", "beyond_publication", "repaired"), 0))  # fmt: skip


def _sections(
    catalog: Catalog, found: Mapping[str, list[dict[str, Any]]], shown: _Shown, today: dt.date
) -> _Found:
    out = _Found()
    for code, rows in found.items():
        cls = catalog.classes[code]
        out.identity_rows.append(rows[0] | {"subject_kind": cls.subject_kind})
        records = [doc for row in rows if (doc := shown.record(cls, row, today, out.counts))]
        if not records:
            continue
        if cls.code == INDUSTRY_CLASS:
            out.industry = records[0].get("industry")
        out.counts["records"] += len(records)
        out.counts["negative_records"] += len(records) if cls.negative else 0
        out.sections.append({
            "class_code": cls.code, "name": cls.name, "disclosure": cls.disclosure,
            "negative": cls.negative, "count": len(records),
            "labels": {f.name: f.label for f in cls.fields}, "records": records,
        })  # fmt: skip
    return out


def _figures(store: Store, subject_id: str) -> list[dict[str, Any]]:
    """The subject's current figures per kind with their monthly history, text masked."""
    rows = store.query(
        f"SELECT * EXCEPT (subject_id, monthly) FROM {store.database}.aggregates FINAL "
        "WHERE subject_id = {s:String} AND facts > 0 ORDER BY kind",
        {"s": subject_id},
    )
    history = monthly_history(store, subject_id, current_figures(rows))
    return [
        {**{k: mask_value(v) if isinstance(v, str) else v for k, v in row.items()
            if k != "version"},
         "history": history.get(row["kind"], [])}
        for row in rows
    ]  # fmt: skip


def _guess_kind(code: str) -> str:
    """For a code the registry does not know: a citizen ID or a typed id (`护照:…`)."""
    citizen = len(code) == 18 and code[:17].isdigit() and code[6:8] in ("19", "20")
    return "natural" if citizen or ":" in code else "legal"


def _list_status(catalog: Catalog, sections: list[dict[str, Any]]) -> dict[str, Any]:
    black, red = [], []
    for s in sections:
        cls = catalog.classes[s["class_code"]]
        entry = {
            "class_code": cls.code, "name": cls.name, "records": s["count"],
            "latest": max(r["event_date"] for r in s["records"]),
        }  # fmt: skip
        if is_black_list(cls):
            black.append(entry)
        elif is_red_list(cls):
            red.append(entry)
    return {"on_black_list": bool(black), "on_red_list": bool(red), "black": black, "red": red}


def new_blacklist_entries(
    store: Store,
    catalog: Catalog,
    since: dt.date,
    *,
    withheld_record_keys: frozenset[str] = frozenset(),
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Black-list entries (失信惩戒对象, 失信被执行人 …) decided on or after `since`.

    "New" is by the listing/decision date (the class's event date), not by arrival, so a
    late upload of an old listing does not show as news. Public classes only.
    """
    db = store.database
    classes = [c for c in catalog if is_black_list(c) and c.disclosure == "public"]
    if not classes:
        return []
    parts = [
        f"SELECT '{c.code}' AS class_code, record_key, subject_id, subject_kind, subject_name, "
        f"district, event_date, stored_at FROM {db}.{c.table} FINAL "
        "WHERE event_date >= {since:Date32}"
        for c in classes
    ]
    # ORDER BY and LIMIT after a bare UNION ALL bind to its last SELECT only (ClickHouse):
    # the union goes in a subquery, or the order and the limit are one class's
    rows = store.query(
        f"SELECT * FROM ({' UNION ALL '.join(parts)}) "
        "ORDER BY event_date DESC, class_code, record_key LIMIT {n:UInt32}",
        {"since": since, "n": limit + len(withheld_record_keys)},
    )
    out = []
    for r in rows:
        if r["record_key"] in withheld_record_keys:
            continue
        r["class_name"] = catalog.classes[r["class_code"]].name
        r["subject_id"] = mask_subject(r["subject_id"], r["subject_kind"])
        out.append(r)
    return out[:limit]
