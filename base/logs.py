"""Logging for every process: structured (JSON) or text, and never a personal ID in clear.

The masking filter sits on the handlers, so it covers our loggers and the libraries' alike
(Faust, aiokafka, clickhouse-connect): any citizen-ID-like or phone-like token is masked
before a line is written.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Literal

from schemas.codes import mask_value


class MaskingFilter(logging.Filter):
    """Render the message once, mask it, and drop the args (they are in the message now)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg = mask_value(message)
        record.args = ()  # not None: mode's formatter turns None into (None,)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_value(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def mask_handlers(logger: logging.Logger | None = None) -> None:
    """Add the masking filter to every handler of `logger` (root by default) that lacks it."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


def configure(level: str = "INFO", fmt: Literal["json", "text"] = "text") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    mask_handlers(root)
