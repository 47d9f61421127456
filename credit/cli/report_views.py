"""`credit query subject|stats|census|sql`: the report routes, printed as tables or JSON.

Kept out of `credit/cli/commands.py` so the command module stays a thin parser; every view takes the
API's JSON, so what the terminal shows is exactly what HTTP clients get.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from credit.client import ApiClient
from schemas.errors import CreditError
from schemas.exports import write_table
from sinks.read.monthly import MONTHLY_COLUMNS, report_rows

REPORT_QUERIES = ("subject", "stats", "census", "sql")
RECORD_FIELDS_SHOWN = 5


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "Y" if value else "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned text columns sized to their widest cell (CJK-aware)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [_width(h) for h in headers]
    for row in cells:
        widths = [max(w, _width(c)) for w, c in zip(widths, row, strict=True)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths, strict=True))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)]).rstrip()


def format_subject(report: dict[str, Any]) -> str:
    ident, lists = report["identity"], report["lists"]
    out = [
        f"{report['title']}  ({report['scope']}, as of {report['as_of']})",
        f"{ident['name']}  {ident['code']}  {ident['kind_label']}  district {ident['district']}"
        + (f"  industry {ident['industry']}" if ident.get("industry") else ""),
        f"black list: {', '.join(b['name'] for b in lists['black']) or 'no'}   "
        f"red list: {', '.join(r['name'] for r in lists['red']) or 'no'}",
        f"{report['counts']['records']} records in {report['counts']['classes']} classes"
        + (f", {report['counts']['withheld']} withheld (objection)" if report["counts"]["withheld"] else ""),
    ]  # fmt: skip
    for section in report["classes"]:
        out.append(f"\n{section['name']} ({section['class_code']}): {section['count']}")
        labels = section["labels"]
        for record in section["records"]:
            shown = [
                f"{labels[k]}={v}" for k, v in record.items() if k in labels and v not in (None, "")
            ]
            out.append(f"  {record['event_date']}  " + "  ".join(shown[:RECORD_FIELDS_SHOWN]))
    for agg in report.get("aggregates", []):
        out.append(_format_aggregate(agg))
    return "\n".join(out)


def _format_aggregate(agg: dict[str, Any]) -> str:
    """One utility / fund: the headline figures, then its monthly history."""
    head = (
        f"\n{agg['kind']}: arrears {'yes' if agg['arrears_flag'] else 'no'} "
        f"{_cell(agg['arrears_amount'])}  avg amount 3/6/12 {_cell(agg['avg_amount_3'])} / "
        f"{_cell(agg['avg_amount_6'])} / {_cell(agg['avg_amount_12'])}  "
        f"paid on time {agg['consecutive_paid_months']} months"
    )
    fund = agg["kind"] in ("social_insurance", "housing_fund")
    headers = ["month", "head count" if fund else "usage", "amount", "arrears", "owed", "on time"]
    rows = [
        [
            str(m["month"])[:7],
            m["head_count"] if fund else m["usage"],
            m["amount"],
            bool(m["arrears_flag"]),
            m["arrears_amount"],
            bool(m["paid_on_time"]),
        ]
        for m in agg.get("history", [])
    ]
    return head + ("\n" + table(headers, rows) if rows else "")


def format_stats(body: dict[str, Any]) -> str:
    headers = ["department", "district", "class", "received", "stored", "rejected", "valid",
               "last arrival", "cycle", "period due", "status", "days late"]  # fmt: skip
    rows = [
        [r["department"], _unit(r), r["class_name"], r["received"], r["stored"], r["rejected"],
         f"{r['valid_rate']:.1%}" if r["valid_rate"] is not None else None,
         r["last_arrival"], r["cycle"] + (f"/{r['due_day']}" if r["due_day"] else ""),
         r["due_period"], r["status"], r["days_late"] or None]
        for r in body["rows"]
    ]  # fmt: skip
    units = sum(r["level"] != "rollup" for r in body["rows"])
    where = f" in {body['district']}" if body.get("district") else ""
    head = f"as of {body['today']}{where}: {body['late']} of {units} reporting units late"
    return head + "\n" + table(headers, rows)


def _unit(row: dict[str, Any]) -> str:
    """市本级 for the city-level unit, the code for a district unit, 合计 for a roll-up."""
    return {"city": "市本级", "rollup": "合计"}.get(row["level"], str(row["district"]))


def format_census(body: dict[str, Any]) -> str:
    ratio = body["collection_ratio"]
    head = table(
        ["数据总量 (万条)", "自然人数据总量 (万条)", "法人和其他组织数据总量 (万条)",
         "归集比例 (类)", "归集比例 (部门)"],
        [[body["total"]["wan"], body["natural"]["wan"], body["legal"]["wan"],
          f"{ratio['classes_reporting']}/{ratio['classes_in_catalog']}",
          f"{ratio['departments_reporting']}/{ratio['departments_in_catalog']}"]],
    )  # fmt: skip
    rows = [
        [c["name"], c["class_code"], c["subject_kind"], c["records"], c["wan"]]
        for c in body["classes"]
    ]
    return head + "\n\n" + table(["class", "code", "kind", "records", "万条"], rows)


def format_monthly(body: dict[str, Any]) -> str:
    ratio = body["collection_ratio"]
    share = "—" if ratio["ratio"] is None else f"{ratio['ratio']:.1%}"
    head = table(
        ["月份", "数据总量 (万条)", "自然人 (万条)", "法人和其他组织 (万条)", "推送目标",
         "归集比例", "预警"],
        [[body["month"], body["total"]["wan"], body["natural"]["wan"], body["legal"]["wan"],
          ratio["target"] or "—", share, ratio["level"]]],
    )  # fmt: skip
    classes = table(["class", "code", "records", "万条", "pushed"],
                    [[c["name"], c["class_code"], c["records"], c["wan"], c["pushed"]]
                     for c in body["classes"]])  # fmt: skip
    depts = table(["department", "records", "万条"],
                  [[d["department"], d["records"], d["wan"]] for d in body["departments"]])  # fmt: skip
    note = f"\n{ratio['consequence']}" if ratio["consequence"] else ""
    return f"{head}{note}\n\n{classes}\n\n{depts}"


def _table_of(what: str, body: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """A report as a header and rows, for `--output` (CSV or Excel)."""
    if what == "sql":
        return list(body["columns"]), [list(r) for r in body["rows"]]
    if what == "monthly":
        rows = report_rows(body)
        return list(MONTHLY_COLUMNS.values()), [[r.get(k) for k in MONTHLY_COLUMNS] for r in rows]
    records = {"stats": "rows", "blacklist-new": "entries", "census": "classes"}.get(what)
    if records is None:
        raise CreditError(f"`credit query {what}` has no table to write; use --json")
    items = body[records]
    header = list(items[0]) if items else []
    return header, [[item.get(h) for h in header] for item in items]


def format_blacklist(body: dict[str, Any]) -> str:
    rows = [[e.get("event_date"), e.get("class_code"), e.get("subject_name"), e.get("subject_id")]
            for e in body["entries"]]  # fmt: skip
    head = f"new black-list entries since {body['since']}: {len(rows)}"
    return head + ("\n" + table(["date", "class", "name", "code"], rows) if rows else "")


def format_sql(body: dict[str, Any]) -> str:
    more = " (truncated: more rows exist)" if body["truncated"] else ""
    return (
        table(body["columns"], body["rows"])
        + f"\n{body['row_count']} rows in {body['seconds']} s{more}"
    )


def run_query(client: ApiClient, args: argparse.Namespace) -> int:
    """Fetch one report and print it; exit 0 on 200, 1 otherwise (the body says why)."""
    if args.what in ("subject", "sql") and not args.target:
        raise CreditError(
            f"`credit query {args.what}` needs a {'code' if args.what == 'subject' else 'SQL text'}"
        )
    purpose = getattr(args, "purpose", None)
    if args.what == "subject":
        code, body = client.get(f"/api/subjects/{args.target}", purpose=purpose)
    elif args.what == "stats":
        code, body = client.get("/api/stats/collection", district=args.district)
    elif args.what == "census":
        code, body = client.get("/api/stats/census", district=args.district)
    elif args.what == "monthly":
        code, body = client.get("/api/stats/monthly", month=args.month, district=args.district,
                                target=args.target)  # fmt: skip
    elif args.what == "blacklist-new":
        code, body = client.get("/api/blacklist/new", since=args.since, limit=args.limit)
    else:
        code, body = client.post(
            "/api/sql", {"sql": args.target, "max_rows": args.max_rows, "purpose": purpose or ""}
        )
    if code == 200 and getattr(args, "output", None):
        header, rows = _table_of(args.what, body)
        written = write_table(Path(args.output), header, rows)
        print(f"{written} rows written to {args.output}")
        return 0
    if args.json or code != 200:
        print(json.dumps(body, ensure_ascii=False, indent=2, default=str))
        return 0 if code == 200 else 1
    view = {
        "subject": format_subject,
        "stats": format_stats,
        "census": format_census,
        "monthly": format_monthly,
        "sql": format_sql,
        "blacklist-new": format_blacklist,
    }
    print(view[args.what](body))
    return 0
