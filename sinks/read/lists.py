"""Who is on a red or black list today (红黑名单公示, seed 002 三(二)1), read from the stored
records at the moment of asking, so an entry appears when its record is stored and leaves when
it expires, is repaired, is withheld under an objection or deleted by one.

An entry is current while none of these holds: its record is withheld (objection) or its
repair was approved; a negative list's maximum publication period (publication.yaml, by
severity) has passed; its own end — 移出日期, 公示截止日期, 有效期至 — is before today. Only the
fields `schemas/catalog/lists.yaml` names for the class are shown, ID-like text masked, so a
person's ID number never leaves in full.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.catalog import Catalog, InfoClass
from schemas.codes import mask_subject, mask_value
from schemas.list_rules import ListRules
from sinks.read.governance import publication_window
from sinks.read.repairs import hidden_record_keys
from sinks.store import Store

END_FIELDS = ("removed_date", "publish_until", "valid_until")  # the list's own end, if given


def list_classes(catalog: Catalog, kind: str | None = None) -> list[InfoClass]:
    return [c for c in catalog if c.list_kind and (kind is None or c.list_kind == kind)]


def _rows(store: Store, cls: InfoClass, rules: ListRules, subject: str | None,
          name: str | None) -> list[dict[str, Any]]:  # fmt: skip
    fields = {*rules.published[cls.code], *(f for f in END_FIELDS if f in cls.by_name)}
    if cls.publication and cls.publication.severity_field:
        fields.add(cls.publication.severity_field)
    cols = ", ".join(f"`{f}`" for f in sorted(fields))
    where, params = ["1"], {}
    if subject:
        where.append("subject_id = {s:String}")
        params["s"] = subject
    if name:
        where.append("positionUTF8(subject_name, {n:String}) > 0")
        params["n"] = name
    return store.query(
        f"SELECT record_key, subject_id, subject_kind, subject_name, event_date, {cols} "
        f"FROM {store.database}.{cls.table} FINAL WHERE {' AND '.join(where)}",
        params,
    )


def _until(cls: InfoClass, row: dict[str, Any]) -> dt.date | None:
    """The last day the entry is published: the earliest of its period's end and its own."""
    window = publication_window(cls, row)
    ends = [d for d in (window[1] if window else None, row.get("publish_until"),
                        row.get("valid_until")) if isinstance(d, dt.date)]  # fmt: skip
    return min(ends) if ends else None


def _current(cls: InfoClass, row: dict[str, Any], today: dt.date, hidden: frozenset[str]) -> bool:
    removed = row.get("removed_date")
    until = _until(cls, row)
    return (row["record_key"] not in hidden and not (removed and removed <= today)
            and (until is None or today <= until))  # fmt: skip


def _entry(cls: InfoClass, rules: ListRules, row: dict[str, Any]) -> dict[str, Any]:
    shown = [{"field": f, "label": cls.by_name[f].label, "value": _shown(row.get(f))}
             for f in rules.published[cls.code]]  # fmt: skip
    return {
        "list": cls.list_kind, "class_code": cls.code, "class_name": cls.name,
        "subject": mask_subject(str(row["subject_id"]), str(row["subject_kind"])),
        "name": row["subject_name"], "listed_on": row["event_date"], "until": _until(cls, row),
        "fields": shown,
    }  # fmt: skip


def _shown(value: Any) -> Any:
    return mask_value(value) if isinstance(value, str) else value


def current_entries(
    store: Store,
    catalog: Catalog,
    rules: ListRules,
    today: dt.date,
    *,
    kind: str | None = None,
    subject: str | None = None,
    name: str | None = None,
) -> list[dict[str, Any]]:
    """The current entries of every list (or of `kind`), newest first; `subject` keeps one
    subject's, `name` those whose name contains it."""
    hide = hidden_record_keys(store)
    out = []
    for cls in list_classes(catalog, kind):
        for row in _rows(store, cls, rules, subject, name):
            if _current(cls, row, today, hide):
                out.append(_entry(cls, rules, row))
    return sorted(out, key=lambda e: (e["listed_on"], e["class_code"], e["subject"]),
                  reverse=True)  # fmt: skip
