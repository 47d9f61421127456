"""Shared fixtures: a real Tansu broker and a real chDB store, one per test session.

chDB allows one data path per process, so the session opens one store and every test gets
its own database in it (as clickhouse-connect's own integration suite does).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from base.broker import EmbeddedBroker
from schemas.catalog import Catalog, default_catalog
from sinks.ddl.upgrade import apply_ddl


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with EmbeddedBroker(log) as running:
        yield running


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture()
def store(chdb_path: Path, catalog: Catalog):  # type: ignore[no-untyped-def]
    """A fresh database in the session's chDB store, with the platform's DDL applied."""
    from sinks.store import open_embedded

    db = f"t_{uuid.uuid4().hex[:10]}"
    s = open_embedded(chdb_path, db)
    apply_ddl(s, catalog)
    yield s
    s.command(f"DROP DATABASE IF EXISTS {db}")


@pytest.fixture()
def unique() -> str:
    """A suffix for topics/groups so tests never see each other's data."""
    return uuid.uuid4().hex[:8]
