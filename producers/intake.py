"""A provider's raw row (by Chinese label or field name) → a typed record, or the reasons not.

Shared by the file, HTTP and polling channels, so each refuses the same things the same way:
banned personal data first (the value is dropped before anything else sees it), then unknown
fields (no partial silent acceptance), then typing, then the catalog rules on what could be
typed — the same rules the stream applies again, so a provider hears about every problem of a
row at once, in its report. The
subject's own USCC check digit is left to the stream, which knows the registered pilot codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from producers.template import example_subject_code
from schemas.catalog import Catalog, InfoClass, normalize_label
from schemas.values import coerce_record
from schemas.violations import Violation
from streams.core.banned import strip_banned
from streams.core.pipeline import is_subject_check_digit
from streams.core.rules import validate

INGEST_KEYS = ("source_key",)
# The longest text a field may carry. The catalog's longest items (处罚事由, 许可内容) are a few
# thousand characters; a megabyte in one field made a Kafka message the broker refuses.
MAX_TEXT_CHARS = 20_000


def intake(
    cls: InfoClass, raw: Mapping[str, Any], catalog: Catalog, today: dt.date | None = None
) -> tuple[dict[str, Any], list[Violation]]:
    """The typed record and every problem found; a row with problems must be dead-lettered."""
    kept, problems = strip_banned(raw, cls.subject_kind)
    by_name: dict[str, Any] = {}
    for key, value in kept.items():
        if key in INGEST_KEYS:
            continue
        if isinstance(value, str | bytes) and len(value) > MAX_TEXT_CHARS:
            problems.append(Violation(
                "field.too_long", str(key), f"「{key}」超过 {MAX_TEXT_CHARS} 个字符",
                f"'{key}' holds {len(value)} characters; at most {MAX_TEXT_CHARS}",
            ))  # fmt: skip
            continue
        spec = cls.by_name.get(key) or cls.by_label.get(normalize_label(str(key)))
        if spec is None:
            problems.append(Violation(
                "field.unknown", str(key), f"「{key}」不是「{cls.name}」的数据项",
                f"'{key}' is not a field of {cls.code}",
            ))  # fmt: skip
            continue
        by_name[spec.name] = value
    typed, type_problems = coerce_record(cls, by_name, catalog)
    problems += type_problems
    # the rules run on every row, so a row hears of all its problems in one answer; a field
    # that could not be typed is reported once, as such, not again as missing
    untyped = {v.field for v in type_problems}
    found = [
        v for v in validate(cls, typed, catalog, today or dt.date.today()) if v.field not in untyped
    ]
    # the stream decides these alone (a pilot-region code can be legal yet fail the check);
    # a row refused here for other reasons hears of them too, in one answer
    if problems or any(not is_subject_check_digit(cls, v) for v in found):
        problems += found
    code = typed.get(cls.subject.code)
    if code and str(code) == example_subject_code(cls, catalog):
        problems.append(Violation(
            "row.template_example", cls.subject.code, "模板中的示例行，请删除后再上传",
            "the template's example row: delete it before uploading",
        ))  # fmt: skip
    return typed, problems
