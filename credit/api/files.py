"""Files a provider downloads: a class's Excel template, and an upload's error report.

* `GET /api/templates/{class_code}` — the .xlsx `credit template` writes (headers, allowed
  values, a guide sheet);
* `GET /api/uploads/{upload_id}/report.xlsx` — the provider's own rows that are rejected now,
  in its own layout plus 原始行号 and 错误原因, built from the original file the intake keeps
  and the reasons in the store (channel and stream alike). A provider sees its own uploads
  only. Fix the rows and send the file back with `credit replay ID --from` or as a new upload;
* `POST /api/uploads/{upload_id}/replay` — that corrected report, re-sent into the upload.
"""

from __future__ import annotations

import json
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from credit.api.access import identity_of, upload_refusal
from producers.channel import UploadResult
from producers.exceptions import UploadFileError
from producers.file_gateway import TooLarge, receive
from producers.files import open_upload
from producers.gateway import Gateway, Row
from producers.replay import fixed_file_rows
from producers.template import write_template
from producers.upload import write_report
from schemas.catalog import InfoClass
from schemas.exceptions import UnknownClassError
from sinks.read import queries

if TYPE_CHECKING:
    from credit.api.app import ApiContext

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_REPORT_ROWS = 1_000_000


def _refuse(status: int, error: str, message: str) -> web.Response:
    body = json.dumps({"error": error, "message": message}, ensure_ascii=False)
    return web.Response(text=body, status=status, content_type="application/json")


def _xlsx(data: bytes, name: str) -> web.Response:
    # RFC 5987 `filename*`: a Chinese file name survives every browser; `filename` for the rest
    disposition = f"attachment; filename=\"download.xlsx\"; filename*=UTF-8''{quote(name)}"
    return web.Response(body=data, content_type=XLSX,
                        headers={"Content-Disposition": disposition})  # fmt: skip


def _template(ctx: ApiContext, code: str) -> tuple[bytes, str]:
    cls = ctx.catalog.get(code)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{cls.name}.xlsx"
        write_template(cls, ctx.catalog, path)
        return path.read_bytes(), path.name


def _report(ctx: ApiContext, upload_id: str, fate: dict[str, Any]) -> bytes | str:
    """The report's bytes, or why there is none."""
    source = ctx.source_file(upload_id)
    if source is None:
        return (f"no original file is kept for upload {upload_id} (an API or poll upload, or "
                "past its retention): its rejected rows are at …/rejected")  # fmt: skip
    cls = ctx.catalog.get(str(fate["class_code"]))
    result = UploadResult(upload_id, cls.code, str(fate["provider"]), "file")
    for letter in queries.dead_letters(ctx.store, upload_id, MAX_REPORT_ROWS):
        for reason in json.loads(letter["reasons"]):
            result.errors.append({"row": letter["row"], "field": reason.get("field"),
                                  "reason": reason["code"],
                                  "message_zh": reason.get("message_zh", "")})  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "report.xlsx"
        write_report(open_upload(source, cls), result, target)
        return target.read_bytes()


async def template(ctx: ApiContext, request: web.Request) -> web.Response:
    """GET /api/templates/{class_code}: the class's Excel template."""
    try:
        data, name = await ctx.run(_template, ctx, request.match_info["class_code"])
    except UnknownClassError as exc:
        return _refuse(404, "class.unknown", str(exc))
    return _xlsx(data, name)


async def _own_upload(
    ctx: ApiContext, request: web.Request, upload_id: str
) -> dict[str, Any] | web.Response:
    """The upload's fate, or the 403/404 for a caller that may not see it or an unknown id."""
    fate = await ctx.run(ctx.upload_fate, upload_id)
    if why := upload_refusal(identity_of(request), fate["provider"]):
        return _refuse(403, "auth.upload", why)
    if not fate["known"]:
        return _refuse(404, "upload.unknown", f"no upload '{upload_id}' / 上传不存在")
    return dict(fate)


async def report(ctx: ApiContext, request: web.Request) -> web.Response:
    """GET /api/uploads/{upload_id}/report.xlsx: the rows rejected now, with their reasons."""
    upload_id = request.match_info["upload_id"]
    fate = await _own_upload(ctx, request, upload_id)
    if isinstance(fate, web.Response):
        return fate
    try:
        made = await ctx.run(_report, ctx, upload_id, fate)
    except UploadFileError as exc:  # the kept file no longer reads (should not happen)
        return _refuse(409, "file.invalid", str(exc))
    if isinstance(made, str):
        return _refuse(404, "report.unavailable", made)
    return _xlsx(made, f"{upload_id}-错误报告.xlsx")


def _fixed_rows(ctx: ApiContext, upload_id: str, cls: InfoClass, path: Path) -> list[Row]:
    """The corrected report's rows that are still rejected (a row stored since, by an
    earlier replay, is not sent twice)."""
    still = {r["row"] for r in queries.dead_letters(ctx.store, upload_id, MAX_REPORT_ROWS)}
    return [row for row in fixed_file_rows(path, cls) if row[0] in still]


async def replay_file(ctx: ApiContext, gateway: Gateway, request: web.Request) -> web.Response:
    """POST /api/uploads/{upload_id}/replay: the provider's corrected error report (its
    原始行号 column kept), re-sent into the same upload as `credit replay --from` does."""
    upload_id = request.match_info["upload_id"]
    fate = await _own_upload(ctx, request, upload_id)
    if isinstance(fate, web.Response):
        return fate
    cls = ctx.catalog.get(str(fate["class_code"]))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path, _ = await receive(request, Path(tmp), gateway.max_file_bytes)
            rows = await ctx.run(_fixed_rows, ctx, upload_id, cls, path)
        except TooLarge:
            return _refuse(413, "file.too_large", f"over {gateway.max_file_bytes} bytes")
        except ValueError as exc:
            return _refuse(400, "request.shape", str(exc))
        except UploadFileError as exc:
            return _refuse(400, exc.reason, str(exc))
    result = await gateway.replay(str(fate["provider"]), cls, upload_id, rows)
    body = {"upload_id": upload_id, "replayed": result.received, "sent": result.sent,
            "rejected_again": result.rejected, "errors": result.errors[:1000]}  # fmt: skip
    return web.Response(text=json.dumps(body, ensure_ascii=False, default=str),
                        content_type="application/json")  # fmt: skip


def add_file_routes(app: web.Application, ctx: ApiContext, gateway: Gateway) -> None:
    app.router.add_get("/api/templates/{class_code}", partial(template, ctx))
    app.router.add_get("/api/uploads/{upload_id}/report.xlsx", partial(report, ctx))
    app.router.add_post("/api/uploads/{upload_id}/replay", partial(replay_file, ctx, gateway))
