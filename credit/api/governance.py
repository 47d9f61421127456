"""Governance routes: objections, authorizations, the usage log, and the governed record read.

Every route here needs the access middleware's `request[IDENTITY]` (401 without it), logs
each read of a subject's data, and masks citizen IDs and phone numbers unless the caller is an
admin, the subject itself, or a bank under the subject's active authorization.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from credit.api.access import (
    CONSENT_ROLES,
    Identity,
    identity_of,
    needs_purpose,
    refuse,
    visible_classes,
)
from credit.api.http_json import json_response
from schemas.catalog import InfoClass
from schemas.codes import check_uscc, mask_id, mask_phone, mask_value
from schemas.exceptions import UnknownClassError
from sinks.exceptions import ForbiddenError, GovernanceError, NotFoundError, StageError
from sinks.read import governance as gov
from sinks.read import queries, reports
from sinks.read.repairs import repaired_record_keys
from sinks.store import Store

if TYPE_CHECKING:
    from credit.api.app import ApiContext

Today = Callable[[], dt.date]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ID_CHECKS = ("citizen_id", "id_by_type")
_PHONE_HINTS = ("phone", "mobile", "tel", "电话", "手机")


# -- masking (DESIGN: personal ID numbers are never shown in full outside the store) ---------------
def mask_any(data: Any) -> Any:
    """Every ID-like or phone-like run in every string of a JSON-like structure, masked."""
    if isinstance(data, str):
        return mask_value(data)
    if isinstance(data, dict):
        return {k: mask_any(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [mask_any(v) for v in data]
    return data


def mask_record(cls: InfoClass, row: dict[str, Any]) -> dict[str, Any]:
    """A class-table row with IDs (by field check, any length) and phones masked."""
    out = dict(row)
    if cls.subject_kind == "natural" and out.get("subject_id"):
        out["subject_id"] = mask_id(str(out["subject_id"]))
    for spec in cls.fields:
        value = out.get(spec.name)
        if not isinstance(value, str) or not value:
            continue
        if spec.check in _ID_CHECKS and check_uscc(value):  # an enterprise's code stays readable
            out[spec.name] = mask_id(value)
        elif spec.check == "phone" or any(h in f"{spec.name}{spec.label}" for h in _PHONE_HINTS):
            out[spec.name] = mask_phone(value)
    masked: dict[str, Any] = mask_any(out)  # free text (remarks, grounds) may carry numbers too
    return masked


# -- the read gate ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadGrant:
    """What one caller may see of one subject today."""

    identity: Identity
    subject: str
    purpose: str
    classes: frozenset[str]
    auth_id: str  # the bank's active authorization, if any
    unmasked: bool  # admin, the subject itself, or a bank under authorization
    own: bool  # the subject reads itself (sees its disputed records too)

    def reader(self) -> gov.Reader:
        return gov.Reader(self.identity.role, self.identity.name, self.identity.org)


async def gate_subject_read(
    ctx: ApiContext, request: web.Request, subject: str, today: dt.date
) -> ReadGrant | web.Response:
    """Who is reading, for what purpose, and which classes they may see; a Response if refused.

    Banks and analysts must say why they read (`?purpose=`, seed 003 art. 14: 约定用途).
    Routes call this before any read of a subject's data and `record_read` after it.
    """
    identity = identity_of(request)
    if identity is None:
        return refuse(401, "auth.token", "no identity: the access middleware is not installed")
    purpose = request.query.get("purpose", "").strip()
    if not purpose and needs_purpose(identity.role):
        return refuse(400, "request.purpose", "give ?purpose=… (查询用途必填): every read of "
                      "a subject's data is logged with its purpose")  # fmt: skip
    own = identity.role == "subject" and identity.org == subject
    auth = None
    if identity.role in CONSENT_ROLES:
        auth = await ctx.run(gov.active_authorization, ctx.store, identity.institution, subject,
                             today)  # fmt: skip
    if identity.role == "party" and auth is None:
        reader = gov.Reader(identity.role, identity.name, identity.org)
        await ctx.run(lambda: gov.record_read(ctx.store, reader, subject, request.path, purpose,
                                              outcome="refused"))  # fmt: skip
        return refuse(403, "auth.consent", f"{identity.institution} holds no consent of {subject} "
                      "in force: a third party reads a subject's data only with its written "
                      "consent (须经信息主体书面同意, seed 003 第十四条)")  # fmt: skip
    classes = await ctx.run(visible_classes, identity, subject, ctx.catalog, ctx.store, today)
    return ReadGrant(identity, subject, purpose or ("self" if own else identity.role), classes,
                     auth["auth_id"] if auth else "", identity.role == "admin" or own or bool(auth),
                     own)  # fmt: skip


def read_records(
    ctx: ApiContext, grant: ReadGrant, cls: InfoClass, today: dt.date
) -> list[dict[str, Any]]:
    """The rows of one class the grant may see: withheld records hidden from other readers,
    expired penalties hidden from public use, masked unless unmasked (runs in the executor)."""
    see_held = grant.own or grant.identity.role == "admin"
    rows = queries.records_of(ctx.store, cls, grant.subject, masked=False,
                              include_withheld=see_held)  # fmt: skip
    if see_held:
        held = gov.withheld_record_keys(ctx.store)
        for row in rows:
            row["withheld"] = row["record_key"] in held
    if grant.identity.role in CONSENT_ROLES and not grant.auth_id:
        # a penalty past its publication period leaves public use (NDRC credit repair rules)
        rows = [r for r in rows if gov.publicly_visible(cls, r, today)]
    if not (grant.own or grant.identity.role in ("analyst", "admin")):
        repaired = repaired_record_keys(ctx.store)  # an approved repair: out of public use
        rows = [r for r in rows if r["record_key"] not in repaired]
    return rows if grant.unmasked else [mask_record(cls, r) for r in rows]


async def records(ctx: ApiContext, today: Today, request: web.Request) -> web.StreamResponse:
    """GET /api/records/{class_code}?subject=CODE&purpose=… under the access rules."""
    try:
        cls = ctx.catalog.get(request.match_info["class_code"])
    except UnknownClassError as exc:
        return refuse(404, "class.unknown", str(exc))
    subject = request.query.get("subject", "").strip().upper()
    if not subject:
        return refuse(400, "request.subject", "give ?subject=CODE")
    day = today()
    grant = await gate_subject_read(ctx, request, subject, day)
    if isinstance(grant, web.Response):
        return grant
    what = f"records:{cls.code}"
    if cls.code not in grant.classes:
        await ctx.run(_log, ctx, grant, what, "refused", "class not visible")
        why = ("authorized-only: needs the subject's active authorization to your "
               "institution (需经信息主体授权)" if cls.disclosure == "authorized"
               else f"{cls.disclosure} class, not open to role '{grant.identity.role}'")  # fmt: skip
        return refuse(403, "auth.disclosure", f"{cls.code} of {mask_value(subject)}: {why}")
    rows = await ctx.run(read_records, ctx, grant, cls, day)
    await ctx.run(_log, ctx, grant, what, "shown", f"{len(rows)} rows")
    return json_response({"class_code": cls.code, "records": rows})


def governed_records(ctx: ApiContext, today: Today = dt.date.today) -> Handler:
    return partial(records, ctx, today)


async def subject_report(ctx: ApiContext, today: Today, request: web.Request) -> web.StreamResponse:
    """GET /api/subjects/{code}?purpose=…: the credit report (sinks.read.reports) at the
    caller's level: authorized scope for analysts, admins, the subject itself and banks under
    an active authorization; the public one otherwise. Records under objection are left out."""
    code = request.match_info["code"].strip().upper()
    try:
        day = _date(request.query["as_of"], "as_of") if "as_of" in request.query else today()
    except GovernanceError as exc:
        return refuse(400, "request.as_of", str(exc))
    grant = await gate_subject_read(ctx, request, code, day)
    if isinstance(grant, web.Response):
        return grant
    scope = any(ctx.catalog.classes[c].disclosure == "authorized" for c in grant.classes)
    held = frozenset() if grant.own else await ctx.run(gov.withheld_record_keys, ctx.store)
    repaired = await ctx.run(repaired_record_keys, ctx.store)
    office = grant.own or grant.identity.role in ("analyst", "admin")
    report = await ctx.run(lambda: reports.subject_report(
        ctx.store, ctx.catalog, code, include_authorized=scope, withheld_record_keys=held,
        repaired_record_keys=repaired, show_repaired=office, today=day))  # fmt: skip
    await ctx.run(_log, ctx, grant, "report:" + ("authorized" if scope else "public"),
                  "shown" if report["found"] else "not_found", "")  # fmt: skip
    return json_response(report, 200 if report["found"] else 404)


def governed_subject_report(ctx: ApiContext, today: Today = dt.date.today) -> Handler:
    return partial(subject_report, ctx, today)


def _log(ctx: ApiContext, grant: ReadGrant, what: str, outcome: str, detail: str) -> None:
    gov.record_read(ctx.store, grant.reader(), grant.subject, what, grant.purpose,
                    outcome=outcome, auth_id=grant.auth_id, detail=detail)  # fmt: skip


# -- governance routes ------------------------------------------------------------------------------
# stable reason codes (STYLE 7), most specific first
_STATUS: tuple[tuple[type[GovernanceError], int, str], ...] = (
    (NotFoundError, 404, "governance.not_found"),
    (ForbiddenError, 403, "governance.forbidden"),
    (StageError, 409, "governance.stage"),
    (GovernanceError, 400, "governance.invalid"),
)


def _date(value: Any, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise GovernanceError(f"{what} must be a date YYYY-MM-DD, not {value!r}") from exc


async def read_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GovernanceError(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise GovernanceError("send a JSON object")
    return body


def guarded(fn: GovernanceHandler, ctx: ApiContext, today: Today) -> Handler:
    """Needs an identity; governance errors become 4xx with a reason code."""

    async def handler(request: web.Request) -> web.StreamResponse:
        identity = identity_of(request)
        if identity is None:
            return refuse(401, "auth.token", "no identity: the access middleware is not installed")
        try:
            return await fn(Call(request, identity, ctx, today()))
        except GovernanceError as exc:
            status, reason = next((st, r) for kind, st, r in _STATUS if isinstance(exc, kind))
            return refuse(status, reason, str(exc))

    return handler


def _own(me: Identity, asked: str | None) -> str:
    """A subject's token reaches its own data only."""
    if asked and asked != me.org:
        raise ForbiddenError(f"a subject token reads its own data only ({me.org})")
    return me.org


def class_of(ctx: ApiContext, body: dict[str, Any]) -> InfoClass:
    """The class a request body names (`class_code`), or NotFoundError (404)."""
    try:
        return ctx.catalog.get(str(body.get("class_code", "")))
    except UnknownClassError as exc:
        raise NotFoundError(str(exc)) from exc


def shown_to(identity: Identity, data: Any, subject: str = "") -> Any:
    """Admins and a subject reading itself see full values; everyone else masked ones."""
    if identity.role == "admin" or (subject and identity.org == subject):
        return data
    return mask_any(data)


@dataclass(frozen=True)
class Call:
    """One governance request: who asks, about what, on which day."""

    request: web.Request
    me: Identity
    ctx: ApiContext
    today: dt.date

    @property
    def store(self) -> Store:
        return self.ctx.store


# -- role policy: pure functions of the caller and what it asks --------------------------------


def objection_scope(me: Identity, query: Mapping[str, str]) -> dict[str, str | None]:
    """Which objections a caller lists: a provider its queue, a bank its own, a subject its
    own; the credit office whatever it filters on."""
    return {
        "provider": me.name if me.role == "provider" else query.get("provider"),
        "applicant": me.name if me.role == "bank" else query.get("applicant"),
        "subject_id": me.org if me.role == "subject" else query.get("subject"),
        "stage": query.get("stage"),
    }


def check_step(me: Identity, objection: Mapping[str, Any], action: str) -> None:
    """A provider resolves objections in its own queue; the other steps are the office's."""
    if action == "resolve":
        if me.role == "provider" and objection["provider"] != me.name:
            oid, queue = objection["objection_id"], objection["provider"]
            raise ForbiddenError(f"objection {oid} is in the queue of '{queue}'")
    elif me.role == "provider":
        raise ForbiddenError(f"'{action}' is the credit office's step (analyst/admin)")
    elif action not in ("accept", "inform"):
        raise NotFoundError(f"no step '{action}'; steps are accept, resolve, inform")


def authorization_scope(me: Identity, query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(subject, institution) a caller may list authorizations of."""
    subject = query.get("subject", "").strip().upper() or None
    if me.role == "subject":
        subject = _own(me, subject)
    institution = me.institution if me.role in CONSENT_ROLES else query.get("institution")
    if me.role == "admin" and not (subject or institution):
        raise GovernanceError("give ?subject=CODE or ?institution=NAME")
    return subject, institution


# -- handlers --------------------------------------------------------------------------------


async def file_objection(call: Call) -> web.Response:
    body = await read_body(call.request)
    cls = class_of(call.ctx, body)
    me = call.me
    only = me.org if me.role == "subject" else None
    obj = await call.ctx.run(gov.file_objection, call.store, cls, str(body.get("record_key", "")),
                             gov.Reader(me.role, me.name, me.org), str(body.get("grounds", "")),
                             call.today, only)  # fmt: skip
    await call.ctx.run(call.ctx.refigure, obj["subject_id"])  # withheld: out of the figures
    return json_response(shown_to(me, obj, obj["subject_id"]), 201)


async def list_objections(call: Call) -> web.Response:
    scope = objection_scope(call.me, call.request.query)
    rows = await call.ctx.run(lambda: gov.list_objections(call.store, **scope))
    for r in rows:  # the queue's deadline: the current stage's next step, in working days
        step = gov.DEADLINES.get(str(r["stage"]))
        r["next_step"] = step[0] if step else None
        r["due_on"] = gov.due_date(r, call.ctx.calendar)
    return json_response({"objections": [shown_to(call.me, r, r["subject_id"]) for r in rows]})


async def objection_step(call: Call) -> web.Response:
    oid, action = call.request.match_info["objection_id"], call.request.match_info["step"]
    obj = await call.ctx.run(gov.get_objection, call.store, oid)
    check_step(call.me, obj, action)
    if action == "resolve":
        body = await read_body(call.request)
        cls = call.ctx.catalog.get(obj["class_code"])
        obj = await call.ctx.run(gov.resolve_objection, call.store, cls, oid,
                                 str(body.get("resolution", "")), str(body.get("reason", "")),
                                 call.me.name, call.today)  # fmt: skip
        await call.ctx.run(call.ctx.refigure, obj["subject_id"])  # released, deleted or held
    else:
        step = gov.accept_objection if action == "accept" else gov.inform_objection
        obj = await call.ctx.run(step, call.store, oid, call.today)
    return json_response(shown_to(call.me, obj, obj["subject_id"]))


async def overdue(call: Call) -> web.Response:
    as_of = call.request.query.get("as_of")
    day = _date(as_of, "as_of") if as_of else call.today
    rows = await call.ctx.run(gov.overdue, call.store, day, call.ctx.calendar)
    return json_response({"as_of": day, "overdue": [shown_to(call.me, r) for r in rows]})


async def grant(call: Call) -> web.Response:
    body = await read_body(call.request)
    subject = str(body.get("subject", "")).strip().upper()
    if call.me.role == "subject" and subject != call.me.org:
        raise ForbiddenError(f"a subject authorizes for itself only ({call.me.org})")
    row = await call.ctx.run(gov.grant_authorization, call.store, subject,
                             str(body.get("institution", "")), str(body.get("purpose", "")),
                             _date(body.get("valid_from") or call.today, "valid_from"),
                             _date(body.get("valid_to"), "valid_to"), call.me.name)  # fmt: skip
    return json_response(row, 201)


async def revoke(call: Call) -> web.Response:
    aid = call.request.match_info["auth_id"]
    row = await call.ctx.run(gov.get_authorization, call.store, aid)
    if call.me.role == "subject" and row["subject_id"] != call.me.org:
        raise ForbiddenError(f"authorization {aid} was not granted by {call.me.org}")
    return json_response(
        await call.ctx.run(gov.revoke_authorization, call.store, aid, call.me.name)
    )


async def authorizations(call: Call) -> web.Response:
    subject, institution = authorization_scope(call.me, call.request.query)
    rows = await call.ctx.run(gov.list_authorizations, call.store, subject, institution)
    for r in rows:
        r["active"] = r["revoked_at"] is None and r["valid_from"] <= call.today <= r["valid_to"]
    return json_response({"authorizations": [shown_to(call.me, r, r["subject_id"]) for r in rows]})


async def audit(call: Call) -> web.Response:
    me, query = call.me, call.request.query
    by = query.get("reader", "").strip()
    if by:  # what one reader read (the credit office audits its analysts and banks)
        if me.role != "admin":
            raise ForbiddenError("only the credit office may list a reader's reads")
        return json_response(
            {"reader": by, "reads": await call.ctx.run(gov.reads_by, call.store, by)}
        )
    subject = query.get("subject", "").strip().upper()
    if me.role == "subject":
        subject = _own(me, subject or None)
    if not subject:
        raise GovernanceError("give ?subject=CODE")
    reader = gov.Reader(me.role, me.name, me.org)
    purpose = query.get("purpose", "") or ("self" if me.role == "subject" else "audit")
    rows = await call.ctx.run(gov.reads_of, call.store, subject)
    await call.ctx.run(lambda: gov.record_read(call.store, reader, subject, "audit", purpose,
                                               detail=f"{len(rows)} entries"))  # fmt: skip
    return json_response({"subject": subject, "reads": shown_to(me, rows, subject)})


GovernanceHandler = Callable[[Call], Awaitable[web.Response]]
ROUTES: tuple[tuple[str, str, GovernanceHandler], ...] = (
    ("POST", "/api/objections", file_objection),
    ("GET", "/api/objections", list_objections),
    ("GET", "/api/objections/overdue", overdue),
    ("POST", "/api/objections/{objection_id}/{step}", objection_step),
    ("POST", "/api/authorizations", grant),
    ("POST", "/api/authorizations/{auth_id}/revoke", revoke),
    ("GET", "/api/authorizations", authorizations),
    ("GET", "/api/audit", audit),
)


def add_guarded_routes(
    app: web.Application,
    ctx: ApiContext,
    routes: Iterable[tuple[str, str, GovernanceHandler]],
    today: Today = dt.date.today,
) -> None:
    """(method, path, handler) routes, each `guarded`: behind an identity, with governance
    errors answered as 4xx and a reason code."""
    for method, path, fn in routes:
        app.router.add_route(method, path, guarded(fn, ctx, today))


def add_governance_routes(
    app: web.Application, ctx: ApiContext, today: Today = dt.date.today
) -> None:
    """The objections, authorizations and usage-log routes (`ROUTES`)."""
    add_guarded_routes(app, ctx, ROUTES, today)
