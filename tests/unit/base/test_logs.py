"""Logs never carry a personal ID number or phone number in clear."""

from __future__ import annotations

import io
import json
import logging
import random

from base.logs import JsonFormatter, MaskingFilter
from schemas.codes import random_citizen_id


def test_ids_and_phones_are_masked_in_messages_args_and_tracebacks() -> None:
    pid = random_citizen_id(random.Random(1))
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("test.mask")
    log.addHandler(handler)
    log.propagate = False
    log.warning("record of %s, phone %s", pid, "13812345678")
    try:
        raise ValueError(f"bad id {pid}")
    except ValueError:
        log.exception("failed")
    text = out.getvalue()
    assert pid not in text and "13812345678" not in text
    first = json.loads(text.splitlines()[0])
    assert first["msg"].startswith("record of " + pid[:6])
