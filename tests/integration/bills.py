"""Utility bills for the aggregate e2e tests: one month's bill as a provider's row, and an
upload of such rows through the SDK."""

from __future__ import annotations

import datetime as dt
from typing import Any

from producers.channel import publish_rows
from producers.publisher import Publisher, new_upload_id
from schemas.catalog import Catalog


def bill(uscc: str, month: dt.date, usage: float, amount: float, *, name: str,
         kind: str, unit: str, provider: str) -> dict[str, str]:  # fmt: skip
    """The bill of `month`, paid five days after the month ends, provided a day later."""
    end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return {
        "机构全称": name, "所属单位统一社会信用代码": uscc, "缴费类型名称": kind,
        "计量开始月或日": month.isoformat(), "计量截止月或日": end.isoformat(),
        "使用量": f"{usage}", "使用单位": unit, "缴费金额": f"{amount:.2f}",
        "缴纳日期": (end + dt.timedelta(days=5)).isoformat(), "信息源头部门全称": provider,
        "提供单位全称": provider, "提供日期": (end + dt.timedelta(days=6)).isoformat(),
    }  # fmt: skip


def send(platform: dict[str, Any], catalog: Catalog, rows: list[dict[str, str]],
         provider: str) -> str:  # fmt: skip
    """Upload `rows` as `legal_utility_payment` (rows numbered from 2); returns the upload id."""
    publisher = Publisher({"bootstrap.servers": platform["bootstrap"]}, platform["registry_url"],
                          provider, "sdk")  # fmt: skip
    upload = new_upload_id("sdk")
    cls = catalog.get("legal_utility_payment")
    result = publish_rows(publisher, cls, catalog, [(i + 2, r) for i, r in enumerate(rows)], upload)
    assert result.rejected == 0, result.errors
    return upload
