"""A realistic synthetic month from simulated utility providers (used by `credit demo`, tests).

Rows are what providers send: keyed by the seed's Chinese labels, values as text. A few are
deliberately bad (check digits, missing fields, negative amounts, impossible birth dates,
banned personal data) and a few are re-sent, so the demo shows every path.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from schemas.codes import random_citizen_id, random_uscc

DISTRICT = "320281"  # 江阴市
# Every date a synthetic row carries lies at most this many days after its month's end
# (提供日期 = end + 20; 缴纳日期 = end + 3..15), so `reported_month` keeps them all in the past.
PROVIDE_LAG_DAYS = 20
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
TRADES = ["纺织", "机械", "化工", "物流", "食品", "电子", "建材", "贸易", "印染", "钢构"]
WORDS = ["华", "新", "东", "长江", "澄", "恒", "瑞", "金", "宏", "远", "兴", "利"]


def month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def reported_month(today: dt.date) -> dt.date:
    """The latest month whose synthetic rows are all dated on or before `today`.

    Why not simply last month: its 提供日期 (end + 20) lies in the future until the 20th, and
    every row would be refused as `field.date_future` (the demo stored 0 rows on 2026-12-07).
    """
    month = today.replace(day=1)
    while month_end(month) + dt.timedelta(days=PROVIDE_LAG_DAYS) > today:
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


@dataclass(frozen=True)
class Utility:
    fee: str  # 缴费类型名称
    provider: str
    unit: str
    price: float
    usage_person: tuple[float, float]
    usage_company: tuple[float, float]
    department: str  # the catalog department the company reports as


def department_of(provider: str) -> str:
    """The catalog department a simulated company reports as."""
    return next((u.department for u in UTILITIES if u.provider == provider), "")


UTILITIES = (
    Utility("水费", "江阴市水务集团有限公司", "吨", 3.6, (6, 25), (80, 3000), "供水公司"),
    Utility(
        "电费",
        "国网江苏省电力有限公司江阴市供电分公司",
        "千瓦时",
        0.58,
        (90, 600),
        (2000, 90000),
        "供电公司",
    ),
    Utility("燃气费", "江阴华润燃气有限公司", "立方米", 3.2, (5, 40), (100, 8000), "燃气公司"),
    Utility(
        "通信费", "中国电信股份有限公司江阴分公司", "元", 1.0, (39, 199), (300, 6000), "通信运营商"
    ),
)


@dataclass(frozen=True)
class Row:
    class_code: str
    provider: str
    values: dict[str, str]
    spoiled: bool = False  # planted bad: the platform must reject it


@dataclass(frozen=True)
class Subject:
    kind: str
    code: str
    name: str


def make_subjects(rng: random.Random, companies: int, persons: int) -> list[Subject]:
    out = []
    for i in range(companies):
        name = f"江阴市{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司{i:04d}"
        out.append(Subject("legal", random_uscc(rng, DISTRICT), name))
    for _ in range(persons):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        out.append(Subject("natural", random_citizen_id(rng, DISTRICT), name))
    return out


def _identity(s: Subject) -> dict[str, str]:
    if s.kind == "legal":
        return {"机构全称": s.name, "统一社会信用代码": s.code}
    return {"姓名": s.name, "证件类型": "身份证", "证件号码": s.code}


def _payment(s: Subject, u: Utility, month: dt.date, rng: random.Random) -> Row:
    lo, hi = u.usage_company if s.kind == "legal" else u.usage_person
    usage = round(rng.uniform(lo, hi), 1)
    end = month_end(month)
    ident = _identity(s)
    if s.kind == "legal":
        ident = {"机构全称": s.name, "所属单位统一社会信用代码": s.code}
    values = {
        **ident, "缴费类型名称": u.fee, "是否预缴费": "否",
        "计量开始月或日": month.isoformat(), "计量截止月或日": end.isoformat(),
        "使用量": f"{usage}", "使用单位": u.unit, "缴费金额": f"{usage * u.price:.2f}",
        "经办机构全称": u.provider, "缴纳日期": (end + dt.timedelta(days=rng.randint(3, 15))).isoformat(),
        "信息源头部门全称": u.provider, "提供单位全称": u.provider,
        "提供日期": (end + dt.timedelta(days=PROVIDE_LAG_DAYS)).isoformat(), "信息使用范围": "政务共享",
    }  # fmt: skip
    code = "legal_utility_payment" if s.kind == "legal" else "natural_utility_payment"
    return Row(code, u.provider, values)


def _arrears(s: Subject, u: Utility, month: dt.date, rng: random.Random) -> Row:
    months = rng.randint(1, 6)
    start = (month - dt.timedelta(days=30 * (months - 1))).replace(day=1)
    end = month_end(month)
    lo, hi = u.usage_company if s.kind == "legal" else u.usage_person
    usage = round(rng.uniform(lo, hi) * months, 1)
    amount_label = "欠费金额" if s.kind == "legal" else "欠费金额(元)"
    values = {
        **_identity(s), "账号": f"{u.fee[0]}{rng.randint(10**7, 10**8 - 1)}", "欠缴类型名称": u.fee,
        ("欠缴统计开始日期" if s.kind == "legal" else "欠缴开始日期"): start.isoformat(),
        ("欠缴统计截止日期" if s.kind == "legal" else "欠缴截止日期"): end.isoformat(),
        "欠缴账期": f"{months}个月", "拖欠天数": str((end - start).days + 1), "欠费量": f"{usage}",
        amount_label: f"{usage * u.price:.2f}", "失信严重程度": "一般" if months < 4 else "较重",
        "信息来源部门全称": u.provider, "提供单位全称": u.provider,
        "信息使用范围": "政务共享", "提供日期": (end + dt.timedelta(days=PROVIDE_LAG_DAYS)).isoformat(),
    }  # fmt: skip
    code = "legal_arrears" if s.kind == "legal" else "natural_arrears"
    return Row(code, u.provider, values)


def _spoil(row: Row, how: int) -> Row:
    """Make one deliberately bad row (the demo shows how each is refused)."""
    v = dict(row.values)
    code_label = next(k for k in v if "统一社会信用代码" in k or k == "证件号码")
    if how == 0:  # wrong check digit
        last = v[code_label][-1]
        v[code_label] = v[code_label][:-1] + ("1" if last != "1" else "2")
    elif how == 1:  # missing required amount
        for k in [k for k in v if "金额" in k]:
            v[k] = ""
    elif how == 2:  # negative amount
        for k in [k for k in v if "金额" in k]:
            v[k] = "-" + v[k]
    elif how == 3 and row.class_code.startswith("natural"):  # banned personal data
        v["婚姻状况"] = "已婚"
    elif how == 3:
        v["计量开始月或日" if "计量开始月或日" in v else "提供日期"] = "2021-02-30"
    return Row(row.class_code, row.provider, v, spoiled=True)


def synthetic_month(
    month: dt.date, companies: int = 800, persons: int = 2200, seed: int = 20261
) -> Iterator[Row]:
    """Every provider's rows for one month: payments, arrears, ~0.3% bad rows, a few re-sends."""
    rng = random.Random(seed)
    for s in make_subjects(rng, companies, persons):
        for u in UTILITIES:
            if s.kind == "natural" and u.fee == "燃气费" and rng.random() < 0.4:
                continue
            row = _payment(s, u, month, rng)
            if rng.random() < 0.003:
                row = _spoil(row, rng.randint(0, 3))
            yield row
            if rng.random() < 0.002:
                yield row  # a provider re-sends the same bill: stored once
            if rng.random() < (0.08 if s.kind == "legal" else 0.05):
                yield _arrears(s, u, month, rng)
