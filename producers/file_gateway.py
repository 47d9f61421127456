"""HTTP file upload (Excel上传 without a terminal): `POST /api/files/{class_code}`.

A provider anywhere in the city sends its `.xlsx` / `.csv` (UTF-8, GBK/GB18030) with its API
key, as a multipart form (`file`, and optionally `period`, as a browser sends it) or as the
raw body with `?filename=`. The body is streamed to disk in pieces — never held in memory —
then goes the way `credit publish` goes: the same header checks, the durable intake (the
original file kept under `source/`), the same per-row answer. Nothing of a file that fails
its checks is sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from producers.channel import ReportedAs
from producers.exceptions import PublishError, UploadFileError
from producers.gateway import Gateway
from producers.upload import publish_file
from schemas.exceptions import PeriodError
from schemas.periods import Period

CHUNK = 1 << 20
MAX_ERRORS_ANSWERED = 1000
_UNSAFE = re.compile(r"[^\w.\-()（）\u4e00-\u9fff ]")


def _error(status: int, reason: str, message: str) -> web.Response:
    body = json.dumps({"error": reason, "message": message}, ensure_ascii=False)
    return web.Response(text=body, status=status, content_type="application/json")


def safe_name(name: str) -> str:
    """The client's file name without directories or odd characters, at most 120 long."""
    base = Path(name.replace("\\", "/")).name.strip() or "upload"
    return _UNSAFE.sub("_", base)[-120:]


class TooLarge(Exception):
    """The body passed the upload size limit."""


async def _stream_to(target: Path, chunks: Any, limit: int) -> int:
    size = 0
    with target.open("wb") as out:
        while chunk := await chunks():
            size += len(chunk)
            if size > limit:
                raise TooLarge
            out.write(chunk)
    return size


async def receive(request: web.Request, folder: Path, limit: int) -> tuple[Path, str | None]:
    """The uploaded file written under `folder`, and the `period` field if one was sent."""
    period = request.query.get("period")
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        path: Path | None = None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "period":
                period = (await part.text()).strip() or period
            elif part.name == "file" and part.filename:
                path = folder / safe_name(part.filename)
                await _stream_to(path, lambda p=part: p.read_chunk(CHUNK), limit)
        if path is None:
            raise ValueError("send the file in a form field named `file` (with its file name)")
        return path, period
    name = request.query.get("filename")
    if not name:
        raise ValueError("send a multipart form with `file`, or the body with ?filename=x.xlsx")
    path = folder / safe_name(name)
    await _stream_to(path, lambda: request.content.read(CHUNK), limit)
    return path, period


def add_routes(app: web.Application, gateway: Gateway) -> None:
    """`POST /api/files/{class_code}`, answered with the gateway's keys and intake."""
    handler = partial(post_file, gateway, limit=gateway.max_file_bytes)
    app.router.add_post("/api/files/{class_code}", handler)


async def post_file(gateway: Gateway, request: web.Request, limit: int) -> web.Response:
    allowed = gateway.authorize(request)
    if isinstance(allowed, web.Response):
        return allowed
    grant, cls = allowed
    if gateway.intake is None:
        return _error(503, "intake.unavailable", "this process keeps no intake for files")
    # next to the intake, not in it (its keeper reads every folder there as an upload)
    folder = gateway.intake.root.parent / "incoming" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        try:
            path, period_text = await receive(request, folder, limit)
        except TooLarge:
            return _error(413, "request.too_large", f"file over {limit} bytes / 文件过大")
        except ValueError as exc:
            return _error(400, "request.shape", str(exc))
        try:
            period = Period.parse(period_text) if period_text else None
        except PeriodError as exc:
            return _error(400, "request.period", str(exc))
        reported = ReportedAs(grant.department, grant.district, period)
        return await _publish(gateway, grant.provider, cls.code, path, reported)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the intake keeps its own copy


async def _publish(gateway: Gateway, provider: str, code: str, path: Path,
                   reported: ReportedAs) -> web.Response:  # fmt: skip
    cls = gateway.catalog.get(code)
    threshold = gateway.hold_above(code, provider) if gateway.hold_above else None
    async with gateway._lock:  # one producer per provider, requests in order
        publisher = gateway.publisher(provider)
        try:
            result, ignored, _ = await asyncio.get_running_loop().run_in_executor(
                None, lambda: publish_file(path, cls, gateway.catalog, publisher, progress=False,
                                           intake=gateway.intake, hold_above=threshold,
                                           reported=reported))  # fmt: skip
        except UploadFileError as exc:
            return _error(400, "file.invalid", str(exc))
        except PublishError as exc:  # the intake's disk is full: nothing was accepted
            return _error(503, "intake.unavailable", str(exc))
    body = {**result.as_dict(), "source_name": path.name, "ignored_columns": ignored,
            "errors": result.errors[:MAX_ERRORS_ANSWERED], "errors_total": len(result.errors)}  # fmt: skip
    status = 202 if result.held else 200 if result.rejected == 0 else 207 if result.sent else 422
    return web.Response(text=json.dumps(body, ensure_ascii=False, default=str), status=status,
                        content_type="application/json")  # fmt: skip
