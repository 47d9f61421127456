"""The JSON answer every HTTP route of the platform gives (one place for its encoding:
Chinese as is, dates and decimals as text)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

JSON = "application/json"


def json_response(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, default=str)
    return web.Response(text=body, status=status, content_type=JSON)
