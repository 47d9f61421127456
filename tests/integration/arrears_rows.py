"""Rows of 社会法人欠缴费用信息 as a water company writes them (Chinese headers), for the
tests that upload files."""

from __future__ import annotations

LABELS = ("机构全称", "统一社会信用代码", "账号", "欠缴类型名称", "欠缴统计开始日期",
          "欠缴统计截止日期", "拖欠天数", "欠费金额", "信息来源部门全称", "提供单位全称",
          "提供日期")  # fmt: skip


def arrears_row(name: str, uscc: str) -> list[str]:
    """One row in `LABELS` order: ¥1,200.50 of water arrears, July to September 2026."""
    return [name, uscc, "W1001", "水费", "2026-07-01", "2026-09-30", "92", "1200.50",
            "江阴市水务集团有限公司", "江阴市水务集团有限公司", "2026-10-20"]  # fmt: skip
