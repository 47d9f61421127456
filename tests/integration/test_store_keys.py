"""`Store.query_keyed` on chDB: a key set is loaded into its Memory table once and read
again while it is the same, and a different, empty or interleaved set reads its own keys."""

from __future__ import annotations

from typing import Any

import pytest

from sinks.store import Store

pytestmark = pytest.mark.integration


def _names(store: Store, keys: list[str], hidden: list[str]) -> list[str]:
    rows = store.query_keyed(
        f"SELECT name FROM {store.database}.people WHERE name IN {{s:Keys}} "
        "AND name NOT IN {h:Keys} ORDER BY name",
        {"s": keys, "h": hidden},
    )
    return [r["name"] for r in rows]


def test_key_sets_are_loaded_once_and_follow_every_change(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.command(f"CREATE TABLE {store.database}.people (name String) ENGINE = Memory")
    store.command(f"INSERT INTO {store.database}.people VALUES ('a'), ('b'), ('c'), ('d')")
    loads: list[str] = []
    insert_arrow = store.insert_arrow

    def counted(table: str, *args: Any, **kwargs: Any) -> None:
        loads.append(table)
        insert_arrow(table, *args, **kwargs)

    monkeypatch.setattr(store, "insert_arrow", counted)
    assert _names(store, ["a", "b", "c"], ["b"]) == ["a", "c"]
    assert _names(store, ["a", "b", "c"], ["b"]) == ["a", "c"]
    assert loads == ["_keys_s", "_keys_h"]  # the second time nothing was loaded
    assert _names(store, ["c", "d"], ["b"]) == ["c", "d"]
    assert _names(store, ["c", "d"], []) == ["c", "d"]
    assert _names(store, [], []) == []
    assert _names(store, ["a", "b", "c"], ["b"]) == ["a", "c"]
    assert loads == ["_keys_s", "_keys_h", "_keys_s", "_keys_s", "_keys_h"]
