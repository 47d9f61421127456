"""Copies the analysts' tables out of the store, for the analysts' own engine to load.

The embedded store is one chDB instance per process, and chDB has no users or grants: an
analyst query run in it could read any table. So the analysts get an engine of their own
(`sinks.read.analyst_engine`, in the `credit analyst` process) holding only what
`sinks.read.analyst_views` lets them see. This side writes each analyst table as a Parquet file
`<name>.<generation>.parquet` in the exchange directory whenever its fingerprint changed
(a file is complete before its final name appears); the engine loads the newest generation.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path

from schemas.catalog import Catalog
from sinks.read.analyst_views import Source, analyst_sources
from sinks.store import Store

log = logging.getLogger("credit.analyst")
KEEP_GENERATIONS = 3  # an engine still loading an older file finds it
FINGERPRINTS = "fingerprints.json"  # what was exported last: a restart skips unchanged tables


def pseudonym_key(path: Path) -> tuple[int, int]:
    """The platform's pseudonym key (two 64-bit halves), made once and kept in the data dir."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{secrets.randbits(63)} {secrets.randbits(63)}\n")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    first, second = path.read_text().split()
    return int(first), int(second)


class AnalystExporter:
    """Writes changed analyst tables to `directory` (call `export_changed` periodically)."""

    def __init__(self, store: Store, catalog: Catalog, directory: Path, key: tuple[int, int]):
        self.store = store
        self.directory = directory
        self.sources = analyst_sources(catalog, store.database, key)
        directory.mkdir(parents=True, exist_ok=True)
        self._fingerprints: dict[str, str] = self._remembered()

    def _remembered(self) -> dict[str, str]:
        """Fingerprints of the last export whose file is still there (else: export again)."""
        try:
            saved = json.loads((self.directory / FINGERPRINTS).read_text())
        except (OSError, ValueError):
            return {}
        present = {p.name.split(".", 1)[0] for p in self.directory.glob("*.parquet")}
        return {name: fp for name, fp in saved.items() if name in present}

    def _remember(self) -> None:
        tmp = self.directory / f".{FINGERPRINTS}.tmp"
        tmp.write_text(json.dumps(self._fingerprints, default=str))
        tmp.replace(self.directory / FINGERPRINTS)

    def _current(self) -> dict[str, str]:
        union = " UNION ALL ".join(
            f"SELECT '{s.name}' AS name, tuple(*) AS fp FROM ({s.fingerprint})"
            for s in self.sources
        )
        # as JSON text: the same value whether just read or remembered across a restart
        return {r["name"]: json.dumps(r["fp"], default=str) for r in self.store.query(union)}

    def export_changed(self) -> list[str]:
        """Export every table whose fingerprint moved since the last call; their names."""
        current = self._current()
        done = []
        for source in self.sources:
            fingerprint = current.get(source.name)
            if fingerprint is not None and fingerprint == self._fingerprints.get(source.name):
                continue
            self._export(source)
            if fingerprint is not None:
                self._fingerprints[source.name] = fingerprint
            done.append(source.name)
        if done:
            self._remember()
        return done

    def _export(self, source: Source) -> None:
        generation = time.time_ns()
        final = self.directory / f"{source.name}.{generation}.parquet"
        tmp = self.directory / f".{source.name}.{generation}.tmp"
        self.store.command(
            f"INSERT INTO FUNCTION file('{tmp}', 'Parquet') {source.select} "
            "SETTINGS engine_file_truncate_on_insert = 1"
        )
        tmp.replace(final)
        older = sorted(self.directory.glob(f"{source.name}.*.parquet"))[:-KEEP_GENERATIONS]
        for path in older:
            path.unlink(missing_ok=True)
