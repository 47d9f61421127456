"""Who may call the HTTP API: user tokens with roles, and the middleware that enforces them.

Roles (seed 004 items 11-14: graded disclosure, authorization, traceability):
- `provider`  a providing department: sends records, sees its own uploads and objections queue;
- `analyst`   the credit office's staff: public and authorized-only classes, reports, risk;
- `bank`      a financial institution (接入机构): public classes, and an enterprise's
              authorized-only classes while that enterprise's authorization is active;
- `admin`     operates the platform: everything, unmasked;
- `subject`   an enterprise or person (token issued by an admin): its own objections, its
              authorizations, and who read its data.

Tokens are stored like provider API keys (producers/apikeys.py): salted SHA-256 in
`<data_dir>/access.json`, shown once. A person's token expires (`CREDIT_TOKEN_HOURS`, 12 by
default; `--hours` when issuing), can be listed by its id and revoked; the file is re-read
when it changes, so a revocation holds from the next request. The data dir's own admin token
(`<data_dir>/admin-token`, for the CLI on this machine) is a service token without expiry.
A provider's API key also authenticates, as role `provider` acting for its department.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import typedefs, web

from credit.exceptions import AccessError
from producers.apikeys import ApiKeyStore, HashedSecrets
from schemas.catalog import Catalog
from sinks.read.governance import active_authorization
from sinks.store import Store

ROLES = ("provider", "analyst", "bank", "party", "admin", "subject")
# Those who read a subject's non-public data only under its consent (授权, seed 003 第十四条):
# financial institutions (`bank`) and other third parties (`party`: guarantors, lessors,
# employers …). A bank without consent still reads the public report; a party nothing.
CONSENT_ROLES = frozenset({"bank", "party"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = typedefs.Middleware  # what web.Application(middlewares=...) takes
Rule = tuple[str, str, frozenset[str]]  # (HTTP method or "*", path prefix, roles allowed)

# Open to anyone: liveness and metrics (no personal data).
# the console's pages hold no data; /api/public: the red and black lists' public notice (公示)
PUBLIC_PATHS = ("/health", "/live", "/metrics", "/console", "/api/public")
# The schema registry's reads are open, as in Confluent's default, since every Kafka client
# reads schemas: GETs, the schema look-up `POST /subjects/{subject}` and the compatibility
# check. Its writes (new versions, config, deletes) fall to the rules: admins only.
REGISTRY_PATHS = ("/subjects", "/schemas", "/config", "/compatibility")

_READERS = frozenset({"analyst", "bank", "party", "admin", "subject"})  # subject: self-query
_OFFICE = frozenset({"analyst", "admin"})
DEFAULT_RULES: tuple[Rule, ...] = (
    ("POST", "/api/records/", frozenset({"provider"})),
    ("POST", "/api/files/", frozenset({"provider"})),
    ("GET", "/api/templates/", frozenset({"provider", "analyst", "admin"})),
    ("GET", "/api/provider", frozenset({"provider"})),  # the key's own provider and classes
    ("GET", "/api/records/", _READERS),  # bank: see visible_classes
    ("GET", "/api/subjects", _READERS),
    ("GET", "/api/uploads/", frozenset({"provider", "analyst", "admin"})),  # provider: own only
    ("GET", "/api/uploads", frozenset({"provider", "admin"})),  # ?state=held: own only
    ("GET", "/api/whoami", frozenset(ROLES)),
    ("POST", "/api/uploads/", frozenset({"provider", "admin"})),  # release/withdraw: own only
    ("GET", "/api/aggregates", _OFFICE),  # derived from authorized-only utility classes
    ("GET", "/api/blacklist", _OFFICE),
    ("*", "/api/risk", _OFFICE),
    ("*", "/api/stats", _OFFICE),
    ("GET", "/api/summary", _OFFICE),
    ("GET", "/api/status", _OFFICE),
    ("*", "/api/sql", _OFFICE),
    # objections: subjects (or a bank on a client's behalf) file; providers answer theirs
    ("POST", "/api/objections", frozenset({"subject", "bank", "analyst", "admin"})),
    ("GET", "/api/objections", frozenset({"subject", "bank", "provider", "analyst", "admin"})),
    ("POST", "/api/objections/", frozenset({"provider", "analyst", "admin"})),  # /{id}/<step>
    ("GET", "/api/objections/overdue", _OFFICE),
    ("POST", "/api/authorizations", frozenset({"subject", "admin"})),
    ("GET", "/api/authorizations", frozenset({"subject", "bank", "party", "admin"})),
    ("GET", "/api/audit", frozenset({"subject", "admin"})),
    # credit repair: a subject applies for itself; the credit office decides
    ("POST", "/api/repairs", frozenset({"subject", "admin"})),
    ("GET", "/api/repairs", frozenset({"subject", "analyst", "admin"})),
    ("POST", "/api/repairs/", _OFFICE),  # /{id}/approve|reject
    # 联合奖惩: departments (provider keys act for one) check a subject's lists and measures
    ("GET", "/api/sanctions/", frozenset({"provider", "analyst", "admin"})),
    # 数据核验: yes/no or banded answers, never records (figures: under authorization)
    ("GET", "/api/verify/", frozenset({"bank", "party", "analyst", "admin"})),
    # borrower monitoring: a bank watches its authorized borrowers and reads its alerts
    ("*", "/api/watchlist", frozenset({"bank", "admin"})),
    ("GET", "/api/alerts", frozenset({"bank", "admin"})),
    # outbound targets (省平台, 互联网+监管 …): the credit office configures them and reads
    # their ledger; analysts read it
    ("GET", "/api/outbound", _OFFICE),
    ("*", "/api/outbound", frozenset({"admin"})),
    # spot checks (抽查): the credit office draws, judges and closes them
    ("*", "/api/spotchecks", _OFFICE),
)


@dataclass(frozen=True)
class Identity:
    """An authenticated caller. `org` is the department (provider), the institution (bank) or
    the subject's code (subject); empty for analysts and admins."""

    role: str
    name: str
    org: str = ""

    @property
    def institution(self) -> str:
        return self.org or self.name

    @property
    def department(self) -> str:
        return self.org

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "name": self.name, "org": self.org}


# where the middleware leaves the caller (`request[IDENTITY]`; read it with `identity_of`)
IDENTITY = web.RequestKey("identity", Identity)


DEFAULT_TOKEN_HOURS = 12.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AccessStore(HashedSecrets):
    """User tokens in `<data_dir>/access.json` (stored like provider keys: hashed)."""

    def issue(self, role: str, name: str, org: str = "",
              hours: float | None = DEFAULT_TOKEN_HOURS) -> str:  # fmt: skip
        """A new token for (role, name), replacing an earlier one; returned once, kept hashed.
        It expires after `hours` (None: a service token that does not)."""
        if role not in ROLES:
            raise AccessError(f"unknown role '{role}'; roles are {list(ROLES)}")
        if not name.strip():
            raise AccessError("a token needs the holder's name")
        if role == "subject" and not org.strip():
            raise AccessError("a subject token needs the subject's code (--subject USCC/ID)")
        if hours is not None and hours <= 0:
            raise AccessError("--hours must be positive")
        now = _now()
        expires = (now + dt.timedelta(hours=hours)).isoformat() if hours is not None else None
        entry = {"token_id": uuid.uuid4().hex[:12], "role": role, "name": name,
                 "org": org.strip().upper() if role == "subject" else org.strip(),
                 "issued_at": now.isoformat(), "expires_at": expires, "revoked_at": None}  # fmt: skip
        return self._add("ct_", entry, lambda e: bool((e["role"], e["name"]) == (role, name)))

    def check(self, token: str) -> Identity | None:
        identity, _ = self.verdict(token)
        return identity

    def verdict(self, token: str) -> tuple[Identity | None, str]:
        """The token's holder, or None and why: unknown, expired or revoked."""
        entry = self._match(token)
        if entry is None:
            return None, "unknown token"
        if entry.get("revoked_at"):
            return None, f"token revoked at {entry['revoked_at']}"
        if "expires_at" not in entry:  # issued before tokens expired: never valid for ever
            return None, "token from before expiry was recorded: ask for a new one (令牌已过期)"
        expires = entry["expires_at"]
        if expires and dt.datetime.fromisoformat(expires) <= _now():
            return None, f"token expired at {expires}: ask for a new one (令牌已过期)"
        return Identity(entry["role"], entry["name"], entry.get("org", "")), ""

    def listing(self) -> list[dict[str, Any]]:
        """Every token without its hash: id, holder, dates and state (active/expired/revoked)."""
        out = []
        for e in self._load():
            expires = e.get("expires_at")
            state = "revoked" if e.get("revoked_at") else "active"
            past = "expires_at" not in e or (
                expires and dt.datetime.fromisoformat(expires) <= _now()
            )
            if state == "active" and past:
                state = "expired"
            out.append({k: e.get(k) for k in ("token_id", "role", "name", "org", "issued_at",
                                               "expires_at", "revoked_at")} | {"state": state})  # fmt: skip
        return out

    def revoke(self, token_id: str) -> dict[str, Any]:
        """Revoke a token by its id (from `listing`); the next request with it is refused."""
        found = [e for e in self._load() if e.get("token_id") == token_id]
        if not found:
            raise AccessError(f"no token with id '{token_id}' (see `credit access list`)")
        self._update(lambda e: e.get("token_id") == token_id,
                     {"revoked_at": _now().isoformat()})  # fmt: skip
        return next(t for t in self.listing() if t["token_id"] == token_id)


def resolve(
    users: AccessStore, provider_keys: ApiKeyStore, token: str
) -> tuple[Identity | None, str]:
    """The caller a token stands for (a user token, else a provider API key), or why not."""
    found, why = users.verdict(token)
    if found is not None or why != "unknown token":
        return found, why
    grant = provider_keys.check(token)
    return (Identity("provider", grant.provider, grant.department), "") if grant else (None, why)


def _presented(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth.removeprefix("Bearer ").strip()
    return request.headers.get("X-API-Key", "").strip()


def _under(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def is_public(path: str, method: str = "GET") -> bool:
    if _under(path, PUBLIC_PATHS):
        return True
    if not _under(path, REGISTRY_PATHS):
        return False
    if method in ("GET", "HEAD"):
        return True
    parts = path.strip("/").split("/")
    lookup = parts[0] == "subjects" and len(parts) == 2  # POST /subjects/{s}: is it there?
    return method == "POST" and (lookup or parts[0] == "compatibility")


def allowed_roles(rules: Iterable[Rule], method: str, path: str) -> frozenset[str]:
    """Roles of the longest matching rule; unlisted paths are for admins only (fail closed)."""
    method = "GET" if method == "HEAD" else method
    best: Rule | None = None
    for rule in rules:
        matches = rule[0] in ("*", method) and path.startswith(rule[1])
        if matches and (best is None or len(rule[1]) > len(best[1])):
            best = rule
    return best[2] if best else frozenset({"admin"})


def needs_purpose(role: str) -> bool:
    """Banks and analysts say why they read a subject's data (seed 003 art. 14: 约定用途);
    every read is logged with it."""
    return role in ("bank", "party", "analyst")


def refuse(status: int, reason: str, message: str, **extra: Any) -> web.Response:
    body = {"error": reason, "message": message, **extra}
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json")  # fmt: skip


def access_middleware(
    users: AccessStore,
    provider_keys: ApiKeyStore,
    rules: Iterable[Rule] = DEFAULT_RULES,
    open_access: bool = False,
) -> Middleware:
    """401 without a known token, 403 when the role may not call the route; else the caller's
    `Identity` is on `request[IDENTITY]`.

    `open_access` (development and the older integration tests only): a call without a token
    acts as an admin where admins may call, and reaches the handler with no identity where
    they may not (the gateway then asks for a provider key itself). A wrong token is still 401.
    """
    table = tuple(rules)

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_public(request.path, request.method):
            return await handler(request)
        token = _presented(request)
        identity, why = resolve(users, provider_keys, token) if token else (None, "no token")
        roles = allowed_roles(table, request.method, request.path)
        if identity is None and open_access and not token:
            if "admin" not in roles:  # e.g. the gateway: it checks provider keys itself
                return await handler(request)
            identity = Identity("admin", "open-access")
        if identity is None:
            return refuse(401, "auth.token", f"{why}: send 'Authorization: Bearer <token>' "
                          "(未认证：请携带令牌)")  # fmt: skip
        if identity.role not in roles:
            return refuse(403, "auth.role", f"role '{identity.role}' may not call "
                          f"{request.method} {request.path}; allowed roles: {sorted(roles)} "
                          "(无权访问)", allowed_roles=sorted(roles))  # fmt: skip
        request[IDENTITY] = identity
        return await handler(request)

    return access


def ensure_admin_token(users: AccessStore, path: Path) -> str:
    """The local operator's admin token in `path` (mode 0600), issued on first use, so the CLI
    and tests on this machine can call the API the way `credit keys` reads the data dir."""
    if path.exists():
        token = path.read_text().strip()
        if (found := users.check(token)) is not None and found.role == "admin":
            return token
    token = users.issue("admin", "local-admin", hours=None)  # the machine's own service token
    tmp = path.with_suffix(".tmp")
    tmp.write_text(token + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return token


def build_access(data_dir: Path, open_access: bool = False) -> Middleware:
    """The middleware for a platform's data dir: its user tokens, its provider keys, the
    default rules; also makes sure `<data_dir>/admin-token` holds a working admin token."""
    users = AccessStore(data_dir / "access.json")
    ensure_admin_token(users, data_dir / "admin-token")
    return access_middleware(users, ApiKeyStore(data_dir / "api-keys.json"), DEFAULT_RULES,
                             open_access)  # fmt: skip


# -- per-route checks ------------------------------------------------------------------------------
def identity_of(request: web.Request) -> Identity | None:
    """The caller the middleware resolved, or None when the middleware is not installed."""
    return request.get(IDENTITY)


def upload_refusal(identity: Identity | None, upload_provider: str | None) -> str | None:
    """Why this caller may not see an upload, or None. Providers see only their own uploads;
    without the middleware (identity None) the route stays as open as before."""
    if identity is None or identity.role != "provider":
        return None
    if upload_provider is not None and upload_provider != identity.name:
        return f"upload belongs to another provider; '{identity.name}' sees only its own uploads"
    return None


def visible_classes(
    identity: Identity, subject: str, catalog: Catalog, store: Store, today: dt.date
) -> frozenset[str]:
    """Class codes of `subject` this caller may read (graded disclosure, seed 004 item 12).

    admin: all. analyst: public + authorized-only (the credit office's own monitoring). bank:
    public, plus authorized-only while the subject's authorization to its institution is active.
    subject: everything about itself (free self-query, seed 004 item 13), public of others.
    Restricted classes: admins (and the subject itself) only.
    """
    by_level: dict[str, set[str]] = {"public": set(), "authorized": set(), "restricted": set()}
    for cls in catalog:
        by_level[cls.disclosure].add(cls.code)
    public = frozenset(by_level["public"])
    if identity.role == "admin" or (identity.role == "subject" and identity.org == subject):
        return frozenset(c.code for c in catalog)
    if identity.role == "analyst":
        return public | by_level["authorized"]
    if identity.role in CONSENT_ROLES and active_authorization(
        store, identity.institution, subject, today
    ):
        return public | by_level["authorized"]
    if identity.role in ("bank", "subject"):
        return public
    return frozenset()
