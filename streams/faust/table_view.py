"""A Faust table as one chunk of the worker sees it: every key read from the store at most once.

With the RocksDB store each `table.get` is a `__contains__` plus a `__getitem__`, both
going to RocksDB and decoding JSON, and one record asks for its subject up to four times
(resolve, pilot-code check, learn, registry update). Within a chunk nothing else writes
the table (the handler is synchronous, changelog updates from other workers wait for the
event loop), so remembering what was read or written until `forget()` is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from streams.faust.changelog import Changelog
from streams.faust.state_store import KeyPartitionedRocksDBStore

_UNREAD = object()


class ChunkView(MutableMapping[str, Any]):
    """Reads through to `table` once per key until `forget()`; writes go through at once.

    Given a `changelog`, `table` is a Faust table: reads go to its store (one RocksDB get;
    Faust's own `table[key]` makes two) and writes to the store and the changelog
    (`streams.faust.changelog`). Without one, `table` is any mapping (tests, the bench profile).
    """

    def __init__(self, table: Any, changelog: Changelog | None = None) -> None:
        self.table = table
        self.changelog = changelog
        store = table.data if changelog is not None else None
        self._read = store.read if isinstance(store, KeyPartitionedRocksDBStore) else (
            self._read_mapping(table if store is None else store))  # fmt: skip
        self._seen: dict[str, Any] = {}

    @staticmethod
    def _read_mapping(mapping: Any) -> Callable[[str], Any]:
        def read(key: str) -> Any:
            try:
                return mapping[key]
            except KeyError:
                return None

        return read

    def forget(self) -> None:
        self._seen.clear()

    def get(self, key: str, default: Any = None) -> Any:
        value = self._seen.get(key, _UNREAD)
        if value is _UNREAD:
            value = self._seen[key] = self._read(key)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __setitem__(self, key: str, value: Any) -> None:
        if self.changelog is not None:
            self.changelog.write(self.table, key, value)
        else:
            self.table[key] = value
        self._seen[key] = value

    def __delitem__(self, key: str) -> None:
        if self.changelog is not None:
            self.changelog.write(self.table, key, None)
        else:
            del self.table[key]
        self._seen[key] = None

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)
