"""Verification without disclosure (数据核验, seed 004 #6: 实现数据"可用不可见"): a bank or the
credit office asks a yes/no or banded question about a subject and gets the answer, never the
records or the figures behind it.

`GET /api/verify/{code}?question=…&purpose=…`:

- `in_arrears` — in arrears with any utility today;
- `arrears_above&amount=10000[&months=12]` — did the arrears, all utilities together, exceed
  the amount today or at any month end of the last `months` months;
- `arrears_band` — today's arrears as a band (无欠费, 1万元以下, 1万至10万元, 10万元以上);
- `on_black_list`, `on_red_list` — a current entry on such a list.

The figure questions read the utility figures, which derive from authorized-only classes, so a
bank needs the subject's active authorization for them as for the report; the list questions
are public. Every answer is written to the usage log with the question, the purpose and the
answer.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from credit.api.access import refuse
from credit.api.governance import ReadGrant, Today, gate_subject_read
from credit.api.http_json import json_response
from schemas.codes import mask_value, normalize_code
from schemas.list_rules import default_list_rules
from sinks.read import governance as gov
from sinks.read.lists import current_entries
from sinks.read.queries import aggregates_of

if TYPE_CHECKING:
    from credit.api.app import ApiContext

FIGURE_QUESTIONS = ("in_arrears", "arrears_above", "arrears_band")
LIST_QUESTIONS = {"on_black_list": "black", "on_red_list": "red"}
BANDS = ((0.0, "无欠费"), (10_000.0, "1万元以下"), (100_000.0, "1万至10万元"))
TOP_BAND = "10万元以上"


def band(amount: float) -> str:
    """The band of an amount owed: 0 → 无欠费, up to ¥10,000, up to ¥100,000, above."""
    for ceiling, name in BANDS:
        if amount <= ceiling:
            return name
    return TOP_BAND


def _arrears(ctx: ApiContext, subject: str, today: dt.date, months: int) -> tuple[float, float]:
    """(owed today, the highest month-end total of the last `months` months or today)."""
    rows = aggregates_of(ctx.store, subject)
    now = sum(float(r["arrears_amount"]) for r in rows if r["arrears_flag"])
    first = gov.add_months(today.replace(day=1), -months)
    by_month: dict[dt.date, float] = {}
    for r in rows:
        for h in r["history"]:
            if h["month"] >= first:
                by_month[h["month"]] = by_month.get(h["month"], 0.0) + float(h["arrears_amount"])
    return now, max([now, *by_month.values()])


def _number(request: web.Request, name: str, default: str | None) -> float:
    raw = request.query.get(name, default)
    try:
        value = float(raw) if raw is not None else -1.0
    except ValueError:
        value = -1.0
    if value < 0:
        raise ValueError(f"{name}: a number of 0 or more / {name} 应为非负数")
    return value


def _answer(ctx: ApiContext, grant: ReadGrant, question: str, amount: float, months: int,
            today: dt.date) -> str:  # fmt: skip
    """The answer (runs in the executor)."""
    if question in LIST_QUESTIONS:
        found = current_entries(ctx.store, ctx.catalog, default_list_rules(), today,
                                kind=LIST_QUESTIONS[question], subject=grant.subject)  # fmt: skip
        return "yes" if found else "no"
    now, peak = _arrears(ctx, grant.subject, today, months)
    if question == "arrears_band":
        return band(now)
    if question == "in_arrears":
        return "yes" if now > 0 else "no"
    return "yes" if peak > amount else "no"


async def verify(ctx: ApiContext, today: Today, request: web.Request) -> web.Response:
    code, day = normalize_code(request.match_info["code"]), today()
    question = request.query.get("question", "")
    if question not in (*FIGURE_QUESTIONS, *LIST_QUESTIONS):
        known = [*FIGURE_QUESTIONS, *LIST_QUESTIONS]
        return refuse(400, "request.question",
                      f"question: one of {known}, not {question!r} / 不支持的核验问题")  # fmt: skip
    grant = await gate_subject_read(ctx, request, code, day)
    if isinstance(grant, web.Response):
        return grant
    scoped = any(ctx.catalog.classes[c].disclosure == "authorized" for c in grant.classes)
    if question in FIGURE_QUESTIONS and not scoped:
        return refuse(403, "verify.authorization", "the utility figures need the subject's "
                      "active authorization (缴费指标的核验须经主体授权)")  # fmt: skip
    try:
        months = int(_number(request, "months", "12"))
        amount = _number(request, "amount", None) if question == "arrears_above" else 0.0
    except ValueError as exc:
        return refuse(400, "request.parameter", str(exc))
    answer = await ctx.run(_answer, ctx, grant, question, amount, months, day)
    await ctx.run(lambda: gov.record_read(ctx.store, grant.reader(), code, f"verify:{question}",
                                          grant.purpose, auth_id=grant.auth_id,
                                          detail=f"answer {answer}"))  # fmt: skip
    body: dict[str, Any] = {"subject": mask_value(code), "question": question,
                            "answer": answer, "as_of": day, "purpose": grant.purpose}  # fmt: skip
    return json_response(body)


def add_verify_route(app: web.Application, ctx: ApiContext, today: Today = dt.date.today) -> None:
    app.router.add_get("/api/verify/{code}", partial(verify, ctx, today))
