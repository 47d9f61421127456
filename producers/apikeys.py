"""Provider API keys: one per provider department, stored hashed, each bound to its classes.

The key file lives in the platform's data dir; only the salted SHA-256 of a key is kept, and
a key is shown once when issued. A provider may publish only the classes the catalog assigns
to the catalog department it acts as (seed 004: 来源可溯 — every record names its provider).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producers.exceptions import ApiKeyError
from schemas.catalog import Catalog


@dataclass(frozen=True)
class Grant:
    provider: str
    department: str
    classes: frozenset[str]
    district: str = ""  # the department's 市/区 unit the key reports as ('' = city level)


def assigned_classes(catalog: Catalog, department: str) -> set[str]:
    """Classes the catalog lets a department provide (class `providers` or department entries)."""
    found = {c.code for c in catalog if department in c.providers}
    for dept in catalog.departments:
        if dept.name == department:
            found.update(dept.classes)
    return found


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


class HashedSecrets:
    """A JSON file of entries, each with a salted SHA-256 of a secret shown once when issued.

    Shared by provider API keys and user tokens (`credit.api.access`); re-read when the file
    changes, written atomically with mode 0600.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] = (-1, -1)
        self._entries: list[dict[str, Any]] = []

    def _load(self) -> list[dict[str, Any]]:
        with self._lock:
            # every write replaces the file: a new inode, so even two writes within one clock
            # tick are seen (a revocation holds from the next request)
            st = self.path.stat() if self.path.exists() else None
            stamp = (st.st_ino, st.st_mtime_ns) if st else (0, 0)
            if stamp != self._stamp:
                self._entries = json.loads(self.path.read_text()) if st else []
                self._stamp = stamp
            return self._entries

    def _add(
        self, prefix: str, entry: dict[str, Any], replaces: Callable[[dict[str, Any]], bool]
    ) -> str:
        """Store `entry` with the hash of a new secret (dropping entries it `replaces`)."""
        secret = prefix + secrets.token_urlsafe(24)
        salt = secrets.token_hex(8)
        entries = [e for e in self._load() if not replaces(e)]
        entries.append({**entry, "salt": salt, "hash": _digest(salt, secret)})
        self._write(entries)
        return secret

    def _update(self, which: Callable[[dict[str, Any]], bool], changes: dict[str, Any]) -> None:
        """Apply `changes` to the entries `which` selects, and write the file atomically."""
        entries = [{**e, **changes} if which(e) else e for e in self._load()]
        self._write(entries)

    def _write(self, entries: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, ensure_ascii=False, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)

    def _match(self, secret: str) -> dict[str, Any] | None:
        """The entry whose hash the presented secret gives (constant-time per entry)."""
        for entry in self._load():
            if hmac.compare_digest(_digest(str(entry["salt"]), secret), str(entry["hash"])):
                return entry
        return None


class ApiKeyStore(HashedSecrets):
    """Keys in `<data_dir>/api-keys.json`."""

    def issue(
        self, catalog: Catalog, provider: str, department: str, classes: list[str] | None = None,
        district: str = "",
    ) -> str:  # fmt: skip
        """A new key for `provider` acting as `department` (its unit in `district`, '' for the
        city level); returns the key (shown once)."""
        allowed = assigned_classes(catalog, department)
        if not allowed:
            raise ApiKeyError(f"the catalog assigns no class to department '{department}'")
        if district and not any(d.name == department and district in d.districts
                                for d in catalog.departments):  # fmt: skip
            raise ApiKeyError(f"the catalog has no unit of '{department}' in district {district}")
        wanted = {catalog.get(c).code for c in classes} if classes else allowed
        foreign = sorted(wanted - allowed)
        if foreign:
            raise ApiKeyError(
                f"classes {foreign} are not assigned to '{department}' by the catalog"
            )
        entry = {"provider": provider, "department": department, "classes": sorted(wanted),
                 "district": district}  # fmt: skip
        return self._add("ck_", entry, lambda e: bool(e["provider"] == provider))

    def rotate(self, provider: str) -> str:
        """A new key for `provider` with the same department, classes and district; the old
        key stops working at once (shown once, like a new key)."""
        found = [e for e in self._load() if e.get("provider") == provider]
        if not found:
            raise ApiKeyError(
                f"'{provider}' has no API key to rotate (issue one with `credit keys`)"
            )
        entry = {k: v for k, v in found[-1].items() if k not in ("salt", "hash", "revoked_at")}
        return self._add("ck_", entry, lambda e: bool(e["provider"] == provider))

    def department_of(self, provider: str) -> str | None:
        """The catalog department `provider` was registered as (its latest key), if any."""
        found = [e for e in self._load() if e.get("provider") == provider]
        return str(found[-1]["department"]) if found else None

    def listing(self) -> list[dict[str, Any]]:
        """Every provider's key without its hash: provider, department, district, classes,
        and whether it was revoked."""
        shown = ("provider", "department", "district", "classes", "revoked_at")
        return [{k: e.get(k) for k in shown} | {"state": "revoked" if e.get("revoked_at")
                                                  else "active"} for e in self._load()]  # fmt: skip

    def revoke(self, provider: str) -> dict[str, Any]:
        """End `provider`'s key from the next request (kept, marked, for the record; a new
        `issue` replaces it)."""
        if not any(e.get("provider") == provider for e in self._load()):
            raise ApiKeyError(f"'{provider}' has no API key (see `credit keys --list`)")
        stamp = dt.datetime.now(dt.UTC).isoformat()
        self._update(lambda e: e.get("provider") == provider, {"revoked_at": stamp})
        return next(k for k in self.listing() if k["provider"] == provider)

    def check(self, key: str) -> Grant | None:
        """The grant of a presented key, or None (unknown or revoked)."""
        entry = self._match(key)
        if entry is None or entry.get("revoked_at"):
            return None
        return Grant(str(entry["provider"]), str(entry["department"]),
                     frozenset(entry["classes"]), str(entry.get("district") or ""))  # fmt: skip
