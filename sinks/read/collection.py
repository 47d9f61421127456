"""Collection statistics: what each department delivered, whether it is late, and the census.

Two things credit offices report upward and score departments on:

* per department and class — received / stored / rejected, the valid-ingest rate (full
  marks at ≥95 %, DESIGN: department scoring) and lateness against the reporting cycle
  (rules in `sinks.read.cycles`);
* the census of seed 003 (《普查表》): data totals in 万条, natural persons vs legal persons
  and other organizations, counted after de-duplication (FINAL) as the 普查表 notes require.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.catalog import Catalog, Department, InfoClass
from schemas.periods import Period
from sinks.ddl.subject_index import INDEX_TABLE
from sinks.read.cycles import Arrival, Deadline, deadline
from sinks.read.workdays import DEFAULT_CALENDAR, WorkCalendar
from sinks.store import Store

FULL_MARKS_VALID_RATE = 0.95
WAN = 10_000  # 万条


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None if value.year < 1971 else value.date()  # DateTime64 zero = never
    return value if isinstance(value, dt.date) else None


def _department(catalog: Catalog, name: str, cls: InfoClass) -> Department | None:
    """The catalog's entry for a department providing `cls`, if it has one."""
    for dept in catalog.departments:
        if dept.name == name and cls.code in dept.classes:
            return dept
    return None


@dataclass
class _Unit:
    """What one reporting unit (department × district × class) delivered."""

    received: int = 0
    stored: int = 0
    rejected: int = 0
    last: dt.date | None = None
    providers: set[str] = field(default_factory=set)
    arrivals: list[Arrival] = field(default_factory=list)
    ledgered: bool = False  # `received` is the ledger's (else the decided rows')


UnitKey = tuple[str, str, str]  # department, district ('' = city level), class code


def collection_stats(
    store: Store, catalog: Catalog, today: dt.date, *, include_missing: bool = False,
    district: str | None = None, calendar: WorkCalendar | None = None,
    department: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per reporting unit (department × district × class) that delivered anything,
    with its lateness verdict, and a roll-up row per department × class for departments
    that report by district (`level`: city | district | rollup).

    A department is the catalog department the upload named (`uploads.department`: the
    provider's `--department` or API key), else the provider itself; `providers` lists the
    organizations behind it. `received` is the upload ledger's count, falling back to the
    decided rows where no ledger entry exists; `pending` is what the stream has not yet
    decided. Lateness is judged by the period each upload covers (`sinks.read.cycles`). With
    `include_missing`, every unit the catalog expects (each department × class, and each of
    its districts) but that never delivered gets a row too: a silent unit is late. With
    `district` (a code prefix: `3202` is the whole city) only that district's rows remain;
    with `department` only that department's units are judged (a provider's calendar).
    Deadlines and days late follow `calendar` (default: the Chinese working-day calendar).
    """
    calendar = calendar or DEFAULT_CALENDAR.lenient()
    units = _units(store)
    if include_missing:
        for cls in catalog:
            for name in cls.providers:
                units.setdefault((name, "", cls.code), _Unit())
        for dept in catalog.departments:
            for code in dept.classes:
                for unit_district in dept.districts:
                    units.setdefault((dept.name, unit_district, code), _Unit())
    if department is not None:
        units = {key: unit for key, unit in units.items() if key[0] == department}
    out = []
    for (name, unit_district, code), unit in sorted(units.items()):
        known = catalog.classes.get(code)
        if known is not None:  # a class since removed from the catalog: nothing to judge it by
            out.append(_stats_row(catalog, known, name, unit_district, unit, today, calendar))
    out += _rollups(catalog, out, units, today)
    if district:
        out = [r for r in out if r["district"].startswith(district)]
    return sorted(out, key=lambda r: (r["department"], r["class_code"], _LEVELS[r["level"]],
                                      r["district"]))  # fmt: skip


_LEVELS = {"rollup": 0, "city": 1, "district": 2}


def _units(store: Store) -> dict[UnitKey, _Unit]:
    """Every upload in the ledger with its decided rows, summed per reporting unit; decided
    rows of uploads without a ledger entry count under their provider."""
    db = store.database
    units: dict[UnitKey, _Unit] = {}
    for r in store.query(
        "SELECT u.provider AS provider, u.department AS department, u.district AS district, "
        "u.class_code AS class_code, u.received AS received, u.started_at AS started, "
        "u.finished_at AS finished, u.period_start AS period_start, u.period_end AS period_end, "
        "o.stored AS stored, o.rejected AS rejected, o.last AS last "
        f"FROM (SELECT * FROM {db}.uploads FINAL) AS u LEFT JOIN ({_decided_sql(db)}) AS o "
        "ON o.upload_id = u.upload_id SETTINGS join_use_nulls = 1"
    ):
        key = (str(r["department"] or r["provider"]), str(r["district"] or ""), r["class_code"])
        unit = units.setdefault(key, _Unit())
        unit.ledgered = True
        unit.received += int(r["received"])
        _decided(unit, r)
        started = _as_date(r["started"])
        if started is not None:
            period = None
            if r["period_start"] is not None and r["period_end"] is not None:
                period = Period(r["period_start"], r["period_end"])
            unit.arrivals.append(Arrival(started, period))
        unit.last = _latest(unit.last, _latest(started, _as_date(r["finished"])))
    for r in store.query(
        f"SELECT provider, class_code, sum(stored) AS stored, sum(rejected) AS rejected, "
        f"max(last) AS last FROM ({_decided_sql(db)}) AS o "
        f"WHERE upload_id NOT IN (SELECT upload_id FROM {db}.uploads) "
        "GROUP BY provider, class_code"
    ):
        unit = units.setdefault((r["provider"], "", r["class_code"]), _Unit())
        _decided(unit, r)
        if unit.last is not None:
            unit.arrivals.append(Arrival(unit.last))
    return units


def _decided_sql(db: str) -> str:
    """Each upload's decided rows: stored, rejected and the latest receipt."""
    return (
        "SELECT upload_id, any(provider) AS provider, any(class_code) AS class_code, "
        "countIf(outcome = 'stored') AS stored, countIf(outcome = 'rejected') AS rejected, "
        f"max(received_at) AS last FROM {db}.outcomes FINAL GROUP BY upload_id"
    )


def _decided(unit: _Unit, row: Mapping[str, Any]) -> None:
    """Add an upload's decided rows (none yet: NULLs from the join) to its unit."""
    unit.stored += int(row["stored"] or 0)
    unit.rejected += int(row["rejected"] or 0)
    if not unit.ledgered:
        unit.received = unit.stored + unit.rejected
    unit.last = _latest(unit.last, _as_date(row["last"]))
    if row.get("provider"):
        unit.providers.add(str(row["provider"]))


def _latest(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    return max(d for d in (a, b) if d) if (a or b) else None


def _stats_row(catalog: Catalog, cls: InfoClass, department: str, district: str,
               unit: _Unit, today: dt.date, calendar: WorkCalendar) -> dict[str, Any]:  # fmt: skip
    dept = _department(catalog, department, cls)
    verdict = deadline(cls, unit.arrivals, today, dept.cycle if dept else None, calendar)
    return _row(cls, department, district, "district" if district else "city", unit, verdict)


def _row(cls: InfoClass, department: str, district: str, level: str, unit: _Unit,
         verdict: Deadline) -> dict[str, Any]:  # fmt: skip
    rate = round(unit.stored / unit.received, 4) if unit.received else None
    return {
        "department": department, "district": district, "level": level,
        "providers": sorted(unit.providers), "class_code": cls.code, "class_name": cls.name,
        "received": unit.received, "stored": unit.stored, "rejected": unit.rejected,
        "pending": max(unit.received - unit.stored - unit.rejected, 0),
        "valid_rate": rate, "valid_full_marks": rate is not None and rate >= FULL_MARKS_VALID_RATE,
        "last_arrival": unit.last, "cycle": verdict.kind, "due_day": verdict.due_day,
        "last_deadline": verdict.last_deadline, "window_start": verdict.window_start,
        "due_period": verdict.due_period.label() if verdict.due_period else None,
        "next_due": verdict.next_due, "status": verdict.status, "days_late": verdict.days_late,
        "late": verdict.late,
    }  # fmt: skip


def _rollups(catalog: Catalog, rows: list[dict[str, Any]], units: dict[UnitKey, _Unit],
             today: dt.date) -> list[dict[str, Any]]:  # fmt: skip
    """市/区 roll-up: per department that reports by district and class, its units summed;
    late when any unit is late, by the most days any unit is late."""
    by_dept = {d.name: d for d in catalog.departments if d.districts}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["department"] in by_dept:
            groups.setdefault((r["department"], r["class_code"]), []).append(r)
    out = []
    for (department, code), members in groups.items():
        total = _Unit()
        for m in members:
            unit = units[(department, m["district"], code)]
            total.received += unit.received
            total.stored += unit.stored
            total.rejected += unit.rejected
            total.last = _latest(total.last, unit.last)
            total.providers |= unit.providers
        worst = max(members, key=lambda m: (m["late"], m["days_late"]))
        verdict = Deadline(worst["cycle"], worst["due_day"], worst["last_deadline"],
                           worst["window_start"], worst["next_due"], None, worst["status"],
                           worst["days_late"])  # fmt: skip
        row = _row(catalog.classes[code], department, "", "rollup", total, verdict)
        row["due_period"] = worst["due_period"]
        row["districts"] = sorted(m["district"] for m in members if m["district"])
        out.append(row)
    return out


def census(store: Store, catalog: Catalog, district: str | None = None) -> dict[str, Any]:
    """The 普查表 figures: totals in 万条 (2 decimals), natural vs legal, per class, and the
    归集比例 by class and by department; with `district` (a code prefix) only the records of
    subjects in that district and the uploads of that district's units.

    A record is one stored row with its subject (普查表 note 2: 一行记录); re-sends and
    corrections count once (FINAL). Per-class counts are exact; 万条 are rounded for the form.
    """
    db = store.database
    where = " WHERE startsWith(district, {d:String})" if district else ""
    params = {"d": district} if district else None
    parts = [f"SELECT '{c.code}' AS code, count() AS n FROM {db}.{c.table} FINAL{where}"
             for c in catalog]  # fmt: skip
    counts = {r["code"]: int(r["n"]) for r in store.query(" UNION ALL ".join(parts), params)}
    subjects = _distinct_subjects(store, catalog, district)

    def figure(n: int) -> dict[str, Any]:
        return {"records": n, "wan": round(n / WAN, 2)}

    by_kind = {"natural": 0, "legal": 0}
    classes = []
    for cls in catalog:
        n = counts.get(cls.code, 0)
        by_kind[cls.subject_kind] += n
        if n:
            classes.append({"class_code": cls.code, "name": cls.name,
                            "subject_kind": cls.subject_kind, **figure(n)})  # fmt: skip
    classes.sort(key=lambda c: (-c["records"], c["class_code"]))
    expected = sorted({d.name for d in catalog.departments if d.classes}
                      | {p for c in catalog for p in c.providers})  # fmt: skip
    reporting = _departments_storing(store, district) & set(expected)
    return {
        "unit": "万条",
        "district": district or "",
        "total": figure(sum(by_kind.values())),
        "natural": figure(by_kind["natural"]),
        "legal": figure(by_kind["legal"]),
        "subjects": subjects,
        # 归集比例 (seed 003): the catalog's classes of which any record is stored, and its
        # departments of which any upload stored a record
        "collection_ratio": {
            "classes_reporting": len(classes),
            "classes_in_catalog": len(catalog.classes),
            "ratio": _ratio(len(classes), len(catalog.classes)),
            "departments_reporting": len(reporting),
            "departments_in_catalog": len(expected),
            "department_ratio": _ratio(len(reporting), len(expected)),
            "departments_silent": [d for d in expected if d not in reporting],
        },
        "classes": classes,
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _departments_storing(store: Store, district: str | None) -> set[str]:
    """Departments (the name an upload reported as, else its provider) with a stored row."""
    db = store.database
    where = "AND startsWith(u.district, {d:String}) " if district else ""
    rows = store.query(
        "SELECT DISTINCT if(u.department = '', u.provider, u.department) AS department "
        f"FROM (SELECT * FROM {db}.uploads FINAL) AS u INNER JOIN (SELECT DISTINCT upload_id "
        f"FROM {db}.outcomes FINAL WHERE outcome = 'stored') AS o ON o.upload_id = u.upload_id "
        f"WHERE 1 {where}",
        {"d": district} if district else None,
    )
    return {str(r["department"]) for r in rows}


def _distinct_subjects(store: Store, catalog: Catalog, district: str | None) -> dict[str, int]:
    """Distinct persons and enterprises with a stored record, from the subject index (every
    class's records by subject). The registry (`subjects`) knows legal persons only: counting
    it gave 0 natural persons with thousands stored."""
    natural = [c.code for c in catalog if c.subject_kind == "natural"]
    where = " WHERE startsWith(district, {d:String})" if district else ""
    row = store.query(
        "SELECT uniqExactIf(subject_id, has({n:Array(String)}, class_code)) AS natural, "
        "uniqExactIf(subject_id, NOT has({n:Array(String)}, class_code)) AS legal "
        f"FROM {store.database}.{INDEX_TABLE}{where}",
        {"n": natural, **({"d": district} if district else {})},
    )[0]
    return {"natural": int(row["natural"]), "legal": int(row["legal"])}


def collection_history(
    store: Store, since: dt.date, *, department: str | None = None
) -> list[dict[str, Any]]:
    """Rows decided per month of receipt × catalog department × class since `since`: stored
    and rejected (the console's collection chart). The department is the one the upload named,
    else its provider, as in `collection_stats`."""
    db = store.database
    dept = "if(u.department = '', o.provider, u.department)"
    where = "o.received_at >= {since:Date}" + (f" AND {dept} = {{d:String}}" if department else "")
    return store.query(
        f"SELECT toString(toStartOfMonth(o.received_at)) AS month, {dept} AS department, "
        "o.class_code AS class_code, countIf(o.outcome = 'stored') AS stored, "
        "countIf(o.outcome = 'rejected') AS rejected "
        f"FROM {db}.outcomes AS o FINAL LEFT JOIN "
        f"(SELECT upload_id, department FROM {db}.uploads FINAL) AS u ON u.upload_id = o.upload_id "
        f"WHERE {where} GROUP BY month, department, class_code "
        "ORDER BY month, department, class_code",
        {"since": since, "d": department or ""},
    )
