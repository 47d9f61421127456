"""The monthly statistics report (数据总量统计月报, seed 003; issue 24 item 3).

For a past or current month, as of its last day (Beijing time): the records stored, deduplicated
(a re-send or a correction counts once), in 万条 and exactly; natural vs legal persons; per
class and per reporting department; and the 归集比例 — the share of those records that had
reached the upstream platform by then (the outbound target's acknowledgements,
`sinks.read.outbound`), with the alarm level seed 003 attaches to it:

* below 60 %: the province's cities lose points in the national city-credit monitoring;
* below 80 %: applications for 示范创建城市 are deferred;
* below 90 %: no city of the province is assessed a 示范城市, and no 一体化 plaque.

Reproducible: the same month gives the same figures later, since it counts by `stored_at` and
by the ledger's `acked_at`. Records deleted since (an objection resolved `delete`, retention)
are no longer counted for the months they were in.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.catalog import Catalog
from sinks.read.governance import add_months
from sinks.read.outbound import list_targets, records_held
from sinks.store import Store

WAN = 10_000
BEIJING = dt.timezone(dt.timedelta(hours=8))
LEVELS = (  # (below this share, level, what follows; seed 003 三 考核)
    (0.6, "低于60%", "所在省（区、市）所有城市的城市信用状况监测得分适当调减"),
    (0.8, "低于80%", "暂缓受理示范创建城市申报"),
    (0.9, "低于90%", "辖区城市不予评审为示范城市，不予受理一体化授牌申请"),
)


def month_bounds(month: str) -> tuple[dt.date, dt.datetime]:
    """'2026-11' → (its first day, the instant it ended: the next month's first midnight in
    Beijing, as UTC). ValueError for anything else."""
    first = dt.date.fromisoformat(month.strip() + "-01")
    end = dt.datetime.combine(add_months(first, 1), dt.time(), BEIJING).astimezone(dt.UTC)
    return first, end


def alarm(ratio: float | None, upstream: str | None = "") -> dict[str, str]:
    if upstream is None:
        return {
            "level": "无推送目标",
            "consequence": "设置省级平台推送目标后计算（credit targets）",
        }
    if ratio is None:
        return {"level": "本月无数据", "consequence": ""}
    for below, level, consequence in LEVELS:
        if ratio < below:
            return {"level": level, "consequence": consequence}
    return {"level": "达标（≥90%）", "consequence": ""}


def _figure(n: int) -> dict[str, Any]:
    return {"records": n, "wan": round(n / WAN, 2)}


def _stock(store: Store, catalog: Catalog, end: dt.datetime, district: str) -> list[dict[str, Any]]:
    """(class, department, records) stored before `end`; the department from the upload."""
    db = store.database
    where = "stored_at < {e:DateTime64(3)}" + (
        " AND startsWith(district, {d:String})" if district else ""
    )
    parts = [
        f"SELECT '{c.code}' AS code, ingest_upload_id AS upload, ingest_provider AS provider, "
        f"uniqExact(record_key) AS n FROM {db}.{c.table} WHERE {where} "
        "GROUP BY ingest_upload_id, ingest_provider" for c in catalog
    ]  # fmt: skip
    return store.query(
        f"SELECT s.code AS code, if(u.department != '', u.department, s.provider) AS department, "
        f"sum(s.n) AS n FROM ({' UNION ALL '.join(parts)}) AS s LEFT JOIN (SELECT upload_id, "
        f"any(department) AS department FROM {db}.uploads GROUP BY upload_id) AS u "
        "ON u.upload_id = s.upload GROUP BY code, department",
        {"e": end.replace(tzinfo=None), "d": district},
    )


def upstream_target(store: Store, target: str | None) -> str | None:
    """The named target, else the one provincial-format target if there is exactly one."""
    if target:
        return target
    found = [t["name"] for t in list_targets(store) if t["format"] == "province"]
    return found[0] if len(found) == 1 else None


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as one table (for Excel/CSV): totals, then classes, then departments."""
    ratio = report["collection_ratio"]
    rows = [{"group": "合计", "name": f"{report['month']} 数据总量", "code": "", **report["total"],
             "pushed": ratio["pushed"], "ratio": ratio["ratio"], "level": ratio["level"]},
            {"group": "主体类型", "name": "自然人", "code": "natural", **report["natural"]},
            {"group": "主体类型", "name": "法人和非法人组织", "code": "legal", **report["legal"]}]  # fmt: skip
    rows += [{"group": "信息类别", "code": c["class_code"], **c} for c in report["classes"]]
    rows += [{"group": "报送部门", "name": d["department"], **d} for d in report["departments"]]
    return rows


MONTHLY_COLUMNS = {"group": "分组", "name": "名称", "code": "代码", "records": "条数",
                   "wan": "万条", "pushed": "已推送省级平台", "ratio": "归集比例",
                   "level": "预警"}  # fmt: skip


def monthly_report(store: Store, catalog: Catalog, month: str, target: str | None = None,
                   district: str = "") -> dict[str, Any]:  # fmt: skip
    """The month's report (see the module docstring); `district`: one district's records."""
    first, end = month_bounds(month)
    stock = _stock(store, catalog, end, district)
    upstream = upstream_target(store, target)
    held = records_held(store, upstream, end) if upstream else {}
    pushed = {code: n for (_, code), n in held.items()}
    per_class: dict[str, int] = {}
    per_dept: dict[str, int] = {}
    for r in stock:
        per_class[r["code"]] = per_class.get(r["code"], 0) + int(r["n"])
        per_dept[r["department"]] = per_dept.get(r["department"], 0) + int(r["n"])
    classes = []
    for cls in catalog:
        n = per_class.get(cls.code, 0)
        if n:
            sent = min(pushed.get(cls.code, 0), n)
            classes.append({"class_code": cls.code, "name": cls.name,
                            "subject_kind": cls.subject_kind, **_figure(n), "pushed": sent,
                            "ratio": round(sent / n, 4) if upstream else None})  # fmt: skip
    classes.sort(key=lambda c: (-c["records"], c["class_code"]))
    total = sum(per_class.values())
    sent_all = sum(c["pushed"] for c in classes)
    ratio = round(sent_all / total, 4) if upstream and total else None
    return {
        "month": first.strftime("%Y-%m"), "as_of": (add_months(first, 1) - dt.timedelta(days=1)),
        "district": district, "unit": "万条", "total": _figure(total),
        "natural": _figure(sum(c["records"] for c in classes if c["subject_kind"] == "natural")),
        "legal": _figure(sum(c["records"] for c in classes if c["subject_kind"] == "legal")),
        "classes": classes,
        "departments": sorted(({"department": d, **_figure(n)} for d, n in per_dept.items()),
                              key=lambda d: (-d["records"], d["department"])),
        "collection_ratio": {"target": upstream, "pushed": sent_all, "stock": total,
                             "ratio": ratio, **alarm(ratio, upstream)},
    }  # fmt: skip
