"""`credit bench`'s workload and process figures: typed utility bills and arrears of
enterprises and persons, ~5% spoiled, ~1% re-sent; CPU and memory read from /proc."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path
from typing import Any

from credit.demo import last_month
from credit.synthetic import UTILITIES, Subject, Utility, make_subjects

Item = tuple[str, str, dict[str, Any]]  # class code, provider, typed record
CLASSES = ("legal_utility_payment", "natural_utility_payment", "legal_arrears", "natural_arrears")
INVALID_SHARE = 0.05
DUPLICATE_SHARE = 0.01


# -- workload: typed records, no per-row string parsing ---------------------------------------
def month_back(month: dt.date, n: int) -> dt.date:
    for _ in range(n):
        month = last_month(month)
    return month


def _month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _who(s: Subject) -> dict[str, Any]:
    if s.kind == "legal":
        return {"org_name": s.name, "uscc": s.code}
    return {"person_name": s.name, "id_type": "身份证", "id_no": s.code}


def _payment(s: Subject, u: Utility, month: dt.date, rng: random.Random) -> Item:
    lo, hi = u.usage_company if s.kind == "legal" else u.usage_person
    usage = round(rng.uniform(lo, hi), 1)
    end = _month_end(month)
    record = {
        **_who(s), "payment_type": u.fee, "prepaid": False, "period_start": month,
        "period_end": end, "usage": usage, "usage_unit": u.unit,
        "amount": round(usage * u.price, 2), "agency_name": u.provider,
        "pay_date": end + dt.timedelta(days=rng.randint(3, 15)), "source_dept": u.provider,
        "provider_org": u.provider, "provide_date": end + dt.timedelta(days=20),
        "usage_scope": "政务共享",
    }  # fmt: skip
    return (f"{s.kind}_utility_payment", u.provider, record)


def _arrears(s: Subject, u: Utility, month: dt.date, rng: random.Random) -> Item:
    months = rng.randint(1, 6)
    start, end = month_back(month, months - 1), _month_end(month)
    lo, hi = u.usage_company if s.kind == "legal" else u.usage_person
    usage = round(rng.uniform(lo, hi) * months, 1)
    record = {
        **_who(s), "account_no": f"{u.fee[0]}{rng.randint(10**7, 10**8 - 1)}",
        "arrears_type": u.fee, "arrears_start": start, "arrears_end": end,
        "arrears_period": f"{months}个月", "overdue_days": (end - start).days + 1,
        "arrears_usage": usage, "arrears_amount": round(usage * u.price, 2),
        "severity": "一般" if months < 4 else "较重", "source_dept": u.provider,
        "provider_org": u.provider, "usage_scope": "政务共享",
        "provide_date": end + dt.timedelta(days=20),
    }  # fmt: skip
    return (f"{s.kind}_arrears", u.provider, record)


def _spoil(item: Item, how: int) -> Item:
    """One deliberately invalid record, refused by the stream's rules or identity."""
    code, provider, record = item
    r = dict(record)
    amount = "amount" if "amount" in r else "arrears_amount"
    if how == 0:  # wrong check character of the subject's code
        key = "uscc" if "uscc" in r else "id_no"
        r[key] = r[key][:-1] + ("1" if r[key][-1] != "1" else "2")
    elif how == 1:  # required amount missing
        r[amount] = None
    elif how == 2:  # negative amount
        r[amount] = -abs(r[amount]) - 1
    else:  # period ends before it starts
        start = "period_start" if "period_start" in r else "arrears_start"
        r[start.replace("start", "end")] = r[start] - dt.timedelta(days=1)
    return (code, provider, r)


def workload(
    records: int, subjects: int, seed: int, month: dt.date
) -> tuple[list[Item], dict[str, int]]:
    """`records` typed bills/arrears of `subjects` enterprises and persons (~27% enterprises).

    Subject i gets its k-th record for utility k mod 4 of month `month` − k // 4, so every
    record has its own source key; ~5% are invalid, ~1% are re-sends of the record before.
    """
    rng = random.Random(seed)
    n_subj = max(1, min(subjects, records))
    companies = max(1, n_subj * 8 // 30)
    people = make_subjects(rng, companies, n_subj - companies)
    rng.shuffle(people)
    items: list[Item] = []
    stats = {"subjects": len(people), "legal_subjects": companies, "invalid": 0, "duplicates": 0}
    i = 0
    while len(items) < records:
        s, k = people[i % n_subj], i // n_subj
        u, m = UTILITIES[k % len(UTILITIES)], month_back(month, k // len(UTILITIES))
        arrears = rng.random() < (0.08 if s.kind == "legal" else 0.05)
        item = (_arrears if arrears else _payment)(s, u, m, rng)
        if rng.random() < INVALID_SHARE:
            item = _spoil(item, rng.randint(0, 3))
            stats["invalid"] += 1
        items.append(item)
        if rng.random() < DUPLICATE_SHARE and len(items) < records:
            items.append(item)  # a provider re-sends a record: counted twice, stored once
            stats["duplicates"] += 1
        i += 1
    return items, stats


# -- process figures from /proc (psutil is not a dependency) ----------------------------------
def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mb(pid: int, key: str) -> float:
    """A `/proc/PID/status` memory line (VmHWM = peak RSS, VmRSS = now) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> dict[str, Any]:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                  .splitlines() if ln.startswith("model name")), "?")  # fmt: skip
    ram_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"nproc": os.cpu_count(), "cpu_model": model, "ram_gb": round(ram_kb / 2**20, 1)}


def load() -> float:
    return round(os.getloadavg()[0], 2)
