"""`credit query subject` as text: the rolling figures and their monthly history."""

from __future__ import annotations

from credit.cli.report_views import format_subject


def test_subject_report_shows_figures_and_monthly_history() -> None:
    month = {"usage": 12.5, "amount": 40.0, "arrears_flag": 1, "arrears_amount": 40.0,
             "paid_on_time": 0, "head_count": 0, "contribution": 0.0, "due": 0.0}  # fmt: skip
    report = {
        "title": "标准化信用信息报告", "scope": "authorized", "as_of": "2024-07-10",
        "identity": {"name": "某公司", "code": "91350100M000100Y43", "kind_label": "法人和其他组织",
                     "district": "350100"},
        "lists": {"black": [], "red": []}, "classes": [],
        "counts": {"records": 0, "classes": 0, "withheld": 0},
        "aggregates": [{
            "kind": "water", "arrears_flag": 1, "arrears_amount": 40.0, "avg_amount_3": 40.0,
            "avg_amount_6": 40.0, "avg_amount_12": 40.0, "consecutive_paid_months": 0,
            "history": [{"month": "2024-05-01", **month}, {"month": "2024-06-01", **month}],
        }],
    }  # fmt: skip
    text = format_subject(report)
    assert "water: arrears yes 40.00" in text
    lines = text.splitlines()
    assert lines[-4].split()[:4] == ["month", "usage", "amount", "arrears"]
    assert lines[-1].split()[:3] == ["2024-06", "12.50", "40.00"]
