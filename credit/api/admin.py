"""The credit office's account routes, for the console: who a token is, user tokens and
provider keys (issue, list, revoke — what `credit access` and `credit keys` do on the
platform's machine), and the uploads held by the dirty-data threshold.

Tokens and keys are admin-only (the access rules leave these paths to admins); a new secret is
in the answer once and stored hashed, as on the command line. Every issue and revocation is
logged with who did it (never the secret).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from credit.api.access import AccessStore, identity_of, refuse
from credit.api.governance import read_body
from credit.api.http_json import json_response
from credit.exceptions import AccessError
from producers.apikeys import ApiKeyStore
from producers.exceptions import ApiKeyError
from sinks.exceptions import GovernanceError

if TYPE_CHECKING:
    from credit.api.app import ApiContext

log = logging.getLogger("credit.api.admin")
MAX_TOKEN_HOURS = 24 * 366


@dataclass(frozen=True)
class Accounts:
    """The data dir's user tokens and provider keys, and the API's context."""

    ctx: ApiContext
    users: AccessStore
    keys: ApiKeyStore
    token_hours: float = 12.0


def _by(request: web.Request) -> str:
    me = identity_of(request)
    return me.name if me else "open-access"


async def whoami(_: Accounts, request: web.Request) -> web.Response:
    """The caller's role, name and organisation: the console picks its pages by the role."""
    me = identity_of(request)
    if me is None:
        return refuse(401, "auth.token", "no token (未认证：请携带令牌)")
    return json_response(me.as_dict())


async def tokens(acc: Accounts, _: web.Request) -> web.Response:
    return json_response({"tokens": acc.users.listing()})


def _hours(raw: Any, default: float) -> float:
    if raw in (None, ""):
        return default
    try:
        hours = float(raw)
    except (TypeError, ValueError) as exc:
        raise AccessError(f"hours: a number, not {raw!r} / 有效小时数应为数字") from exc
    if not 0 < hours <= MAX_TOKEN_HOURS:
        raise AccessError(f"hours: between 0 and {MAX_TOKEN_HOURS} / 有效小时数超出范围")
    return hours


async def issue_token(acc: Accounts, request: web.Request) -> web.Response:
    body = await read_body(request)
    role, name = str(body.get("role", "")), str(body.get("name", "")).strip()
    org = str(body.get("org", "")).strip()
    hours = _hours(body.get("hours"), acc.token_hours)
    token = acc.users.issue(role, name, org, hours=hours)
    entry = next(t for t in acc.users.listing() if (t["role"], t["name"]) == (role, name))
    log.warning("token %s issued: %s %s by %s", entry["token_id"], role, name, _by(request))
    return json_response({**entry, "token": token}, 201)


async def revoke_token(acc: Accounts, request: web.Request) -> web.Response:
    revoked = acc.users.revoke(request.match_info["token_id"])
    log.warning("token %s revoked by %s", revoked["token_id"], _by(request))
    return json_response(revoked)


async def keys(acc: Accounts, _: web.Request) -> web.Response:
    return json_response({"keys": acc.keys.listing()})


async def issue_key(acc: Accounts, request: web.Request) -> web.Response:
    """`{"provider", "department", "district"}` issues (or replaces) a provider's key;
    `{"provider", "rotate": true}` replaces it keeping its department and district."""
    body = await read_body(request)
    provider = str(body.get("provider", "")).strip()
    if not provider:
        raise ApiKeyError("provider: the provider's full name / 请填写信息提供单位名称")
    if body.get("rotate"):
        key = acc.keys.rotate(provider)
    else:
        key = acc.keys.issue(acc.ctx.catalog, provider, str(body.get("department", "")).strip(),
                             None, str(body.get("district", "")).strip())  # fmt: skip
    log.warning("API key issued for %s by %s", provider, _by(request))
    entry = next(k for k in acc.keys.listing() if k["provider"] == provider)
    return json_response({**entry, "key": key}, 201)


async def revoke_key(acc: Accounts, request: web.Request) -> web.Response:
    revoked = acc.keys.revoke(request.match_info["provider"])
    log.warning("API key of %s revoked by %s", revoked["provider"], _by(request))
    return json_response(revoked)


async def held_uploads(acc: Accounts, request: web.Request) -> web.Response:
    """`GET /api/uploads?state=held`: the uploads waiting for a person's decision (a provider
    sees its own)."""
    state = request.query.get("state", "held")
    if state != "held":
        return json_response({"error": "request.state", "message": "state: only 'held' is "
                              "listed here / 仅支持 state=held"}, 400)  # fmt: skip
    me = identity_of(request)
    rows = await acc.ctx.run(acc.ctx.held_uploads)
    if me is not None and me.role == "provider":
        rows = [r for r in rows if r.get("provider") == me.name]
    return json_response({"uploads": rows})


AccountHandler = Callable[[Accounts, web.Request], Awaitable[web.Response]]
ROUTES: tuple[tuple[str, str, AccountHandler], ...] = (
    ("GET", "/api/whoami", whoami),
    ("GET", "/api/access/tokens", tokens),
    ("POST", "/api/access/tokens", issue_token),
    ("POST", "/api/access/tokens/{token_id}/revoke", revoke_token),
    ("GET", "/api/access/keys", keys),
    ("POST", "/api/access/keys", issue_key),
    ("POST", "/api/access/keys/{provider}/revoke", revoke_key),
    ("GET", "/api/uploads", held_uploads),
)


def _answers_400(
    fn: AccountHandler, acc: Accounts
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        try:
            return await fn(acc, request)
        except (AccessError, ApiKeyError, GovernanceError) as exc:
            return json_response({"error": "request.invalid", "message": str(exc)}, 400)

    return handler


def add_admin_routes(app: web.Application, accounts: Accounts) -> None:
    """`ROUTES`; a refused issue or revocation answers 400 with the reason."""
    for method, path, fn in ROUTES:
        app.router.add_route(method, path, _answers_400(fn, accounts))
