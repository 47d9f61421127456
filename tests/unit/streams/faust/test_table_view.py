"""ChunkView: one store read per key per chunk, writes through at once, fresh after forget."""

from __future__ import annotations

from typing import Any

from streams.faust.table_view import ChunkView


class CountingTable(dict[str, Any]):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __getitem__(self, key: str) -> Any:
        self.reads += 1
        return super().__getitem__(key)


def test_each_key_is_read_once_until_forget() -> None:
    table = CountingTable()
    table["a"] = {"n": 1}
    view = ChunkView(table)
    assert [view.get("a"), view.get("a"), view["a"]] == [{"n": 1}] * 3
    assert view.get("missing") is None and "missing" not in view and view.get("missing") is None
    assert table.reads == 2  # "a" once, "missing" once
    table["a"] = {"n": 2}  # another worker's update arriving between chunks
    assert view.get("a") == {"n": 1}
    view.forget()
    assert view.get("a") == {"n": 2}


def test_writes_go_through_and_are_seen() -> None:
    table = CountingTable()
    view = ChunkView(table)
    assert view.get("s") is None
    view["s"] = {"name": "x"}
    assert table["s"] == {"name": "x"} and view.get("s") == {"name": "x"}
    del view["s"]
    assert "s" not in table and view.get("s") is None
