"""The durable intake: every accepted upload on disk, fsync'd, before anyone hears "accepted".

Why: the embedded broker keeps topics in memory only, so what it held is gone after any
restart; the platform must be able to send every undecided upload again. Each upload is a
folder `<root>/<upload_id>/`:

  messages.bin   every Kafka message the upload makes (its Avro record batches, the
                 channel's dead letters, and last the ledger entry), as length-prefixed
                 frames, written before anything is produced
  ledger.json    the ledger entry (received / sent / rejected, class, provider, channel);
                 written, fsync'd and renamed into place only after messages.bin is
                 fsync'd: its presence is what "accepted" means
  published      an empty marker: the broker acknowledged every frame (once)
  released       for an upload held by the dirty-data threshold (ledger.json says `held`):
                 an admin or the provider released it, so it is sent; withdrawn, it is
                 decided (decided.json says `withdrawn`) and never sent
  decided.json   written by the platform once every received row is stored or rejected;
                 the folder then moves to `<root>/decided/<upload_id>/`
  source/        the provider's original file (来源可溯), kept as long as the settings say

Bookkeeping order of one upload (`UploadRecorder`): (1) frames appended as the channel
makes them; (2) `commit`: fsync messages.bin, write ledger.json to a temporary name, fsync
it, rename, fsync the folder; (3) only then are the frames produced to the broker. A crash
before (2) leaves a folder without ledger.json: the upload was never accepted, nothing of
it was produced, and `discard_unaccepted` removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from producers.exceptions import IntakeError

_LEN = struct.Struct(">I")
MESSAGES, LEDGER, DECIDED, SOURCE = "messages.bin", "ledger.json", "decided.json", "source"
PUBLISHED = "published"  # empty marker: the broker acknowledged every frame once
RELEASED = "released"  # a held upload was released: it is sent like any other
DECIDED_DIR = "decided"  # decided uploads move here: the active folder holds only work
MAX_FRAME_BYTES = 64 * 1024 * 1024  # a frame is one Kafka message (≤ 1 MB in practice)


@dataclass(frozen=True)
class Frame:
    """One Kafka message as the channel made it."""

    topic: str
    partition: int  # -1: the producer's partitioner decides
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes


@dataclass(frozen=True)
class IntakeEntry:
    """One accepted upload as the intake holds it."""

    upload_id: str
    ledger: dict[str, Any]
    decided: dict[str, Any] | None
    accepted_ms: int
    has_messages: bool
    released: bool = False

    @property
    def held(self) -> str:
        """Why the upload is held back (dirty-data threshold), "" once released or decided."""
        if self.released or self.decided is not None:
            return ""
        return str(self.ledger.get("held") or "")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_durably(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        json.dump(data, out, ensure_ascii=False, default=str)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def encode_frame(frame: Frame) -> bytes:
    meta = json.dumps({
        "t": frame.topic, "p": frame.partition,
        "k": None if frame.key is None else frame.key.decode("latin-1"),
        "h": [[name, value.decode("latin-1")] for name, value in frame.headers],
    }).encode()  # fmt: skip
    return _LEN.pack(len(meta)) + meta + _LEN.pack(len(frame.value)) + frame.value


def read_frames(stream: BinaryIO, where: str = "") -> Iterator[Frame]:
    """The frames of a messages.bin; a cut or damaged file raises `IntakeError`."""
    while head := stream.read(4):
        meta = json.loads(_read_exact(stream, _length(head, where), where))
        value = _read_exact(stream, _length(stream.read(4), where), where)
        key = meta["k"]
        yield Frame(meta["t"], int(meta["p"]), None if key is None else key.encode("latin-1"),
                    tuple((n, v.encode("latin-1")) for n, v in meta["h"]), value)  # fmt: skip


def _length(head: bytes, where: str) -> int:
    if len(head) != 4:
        raise IntakeError(f"intake file {where} is cut short")
    (n,) = _LEN.unpack(head)
    if n > MAX_FRAME_BYTES:
        raise IntakeError(f"intake file {where} is damaged (a frame of {n} bytes)")
    return int(n)


def _read_exact(stream: BinaryIO, n: int, where: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise IntakeError(f"intake file {where} is cut short")
    return data


class UploadRecorder:
    """Collects one upload's frames on disk; `commit` makes the upload accepted."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._out: BinaryIO | None = (folder / MESSAGES).open("wb")
        self.frames = 0

    def append(self, frame: Frame) -> None:
        assert self._out is not None, "the upload was already committed"
        try:
            self._out.write(encode_frame(frame))
        except OSError as exc:
            raise IntakeError(
                f"上传未被接收：无法写入数据目录 / the upload was not accepted: cannot write the "
                f"intake of {self.folder.name} ({exc}); nothing was sent"
            ) from exc
        self.frames += 1

    def commit(self, ledger: Mapping[str, Any]) -> None:
        """Steps (1)-(2) of the module docstring: data durable first, then the ledger."""
        assert self._out is not None
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            self._out = None
            _write_json_durably(self.folder / LEDGER,
                                {**ledger, "accepted_ms": int(time.time() * 1000)})  # fmt: skip
        except OSError as exc:
            self.abort()
            raise IntakeError(
                f"上传未被接收：无法写入数据目录 / the upload was not accepted: cannot write "
                f"the intake ({exc}); nothing was sent"
            ) from exc

    def abort(self) -> None:
        """Forget an upload that will not be accepted (nothing of it was produced)."""
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None
        shutil.rmtree(self.folder, ignore_errors=True)


class DurableIntake:
    """The folder of accepted uploads under the data dir (several processes may write it:
    each upload has its own folder, and `ledger.json` appears by an atomic rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.decided_root = root / DECIDED_DIR
        self._decided_bytes: tuple[float, int] = (0.0, 0)  # (when measured, bytes)

    def _folder(self, upload_id: str) -> Path:
        """An upload's folder: among the active ones, or moved under `decided/`."""
        active = self.root / upload_id
        return active if active.exists() else self.decided_root / upload_id

    def begin(self, upload_id: str, source: Path | None = None) -> UploadRecorder:
        if upload_id == DECIDED_DIR or (self.decided_root / upload_id).exists():
            raise IntakeError(f"upload {upload_id} is already in the intake")
        folder = self.root / upload_id
        try:
            folder.mkdir(parents=True, exist_ok=False)
            if source is not None:
                (folder / SOURCE).mkdir()
                shutil.copy2(source, folder / SOURCE / source.name)
        except FileExistsError as exc:
            raise IntakeError(f"upload {upload_id} is already in the intake") from exc
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise IntakeError(
                f"上传未被接收：无法写入数据目录 / the upload was not accepted: cannot write "
                f"the intake ({exc})"
            ) from exc
        return UploadRecorder(folder)

    def frames(self, upload_id: str) -> Iterator[Frame]:
        path = self._folder(upload_id) / MESSAGES
        try:
            with path.open("rb") as stream:
                yield from read_frames(stream, str(path))
        except FileNotFoundError as exc:
            raise IntakeError(f"the intake no longer holds the messages of {upload_id}") from exc

    def source_file(self, upload_id: str) -> Path | None:
        """The provider's original file of an upload, while it is kept (file channels)."""
        if not upload_id or upload_id.startswith(".") or "/" in upload_id:
            return None
        found = sorted((self._folder(upload_id) / SOURCE).glob("*"))
        return found[0] if found else None

    def entry(self, upload_id: str) -> IntakeEntry | None:
        if not upload_id or upload_id.startswith(".") or "/" in upload_id:
            return None
        return self._entry_at(self._folder(upload_id))

    @staticmethod
    def _entry_at(folder: Path) -> IntakeEntry | None:
        try:
            ledger = json.loads((folder / LEDGER).read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        decided = None
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            decided = json.loads((folder / DECIDED).read_text())
        return IntakeEntry(folder.name, ledger, decided, int(ledger.get("accepted_ms", 0)),
                           (folder / MESSAGES).exists(), (folder / RELEASED).exists())  # fmt: skip

    def entries(self) -> list[IntakeEntry]:
        """The active uploads (undecided or held), oldest first; decided ones live apart, so
        this stays as small as the work in flight however many uploads were ever accepted."""
        if not self.root.exists():
            return []
        found = (self._entry_at(p) for p in self.root.iterdir()
                 if p.is_dir() and p.name != DECIDED_DIR)  # fmt: skip
        return sorted((e for e in found if e is not None), key=lambda e: e.accepted_ms)

    def undecided(self) -> list[IntakeEntry]:
        """Accepted uploads whose rows are not all decided yet (held ones wait for a person)."""
        return [e for e in self.entries() if e.decided is None and not e.held]

    def mark_published(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):  # decided (and moved) meanwhile
            (self._folder(upload_id) / PUBLISHED).touch()

    def is_published(self, upload_id: str) -> bool:
        return (self._folder(upload_id) / PUBLISHED).exists()

    def release(self, upload_id: str) -> None:
        """A held upload may be sent (the caller sends it)."""
        folder = self._folder(upload_id)
        (folder / RELEASED).touch()
        _fsync_dir(folder)

    def withdraw(self, upload_id: str, by: str) -> None:
        """A held upload is given up: decided, never sent; its files stay as provenance."""
        self.mark_decided(upload_id, {"withdrawn": True, "by": by})

    def mark_decided(self, upload_id: str, counts: Mapping[str, Any]) -> None:
        """Record the decision, then move the folder under `decided/` (one rename)."""
        folder = self.root / upload_id
        _write_json_durably(folder / DECIDED, {**counts, "decided_ms": int(time.time() * 1000)})
        self.decided_root.mkdir(exist_ok=True)
        folder.rename(self.decided_root / upload_id)
        _fsync_dir(self.root)

    def discard_unaccepted(self, older_than_s: float = 3600.0) -> int:
        """Remove folders of uploads that never reached `commit` (their writer died);
        recent ones may still be being written by another process."""
        if not self.root.exists():
            return 0
        removed, now = 0, time.time()
        for folder in self.root.iterdir():
            if folder.name == DECIDED_DIR or not folder.is_dir():
                continue
            if now - folder.stat().st_mtime > older_than_s and not (folder / LEDGER).exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def prune(self, messages_retention_s: float, source_retention_s: float) -> int:
        """Drop the messages of uploads decided longer than `messages_retention_s` ago, and
        the whole folder then too unless it keeps a source file, which goes (with its folder)
        after `source_retention_s`."""
        if not self.decided_root.exists():
            return 0
        pruned, now_ms = 0, int(time.time() * 1000)
        for folder in self.decided_root.iterdir():
            try:
                decided = json.loads((folder / DECIDED).read_text())
            except (OSError, json.JSONDecodeError):
                continue
            age_s = (now_ms - int(decided.get("decided_ms", now_ms))) / 1000
            # an upload without a source file (HTTP, poll) has nothing to keep as provenance
            # beyond what the store holds: its folder goes with its messages
            keep_s = source_retention_s if (folder / SOURCE).exists() else messages_retention_s
            if age_s >= keep_s:
                shutil.rmtree(folder, ignore_errors=True)
                pruned += 1
            elif age_s >= messages_retention_s and (folder / MESSAGES).exists():
                (folder / MESSAGES).unlink(missing_ok=True)
                pruned += 1
        return pruned

    def stats(self) -> dict[str, Any]:
        """What `credit status` shows: bytes held, uploads undecided, the oldest of them. The
        decided uploads' bytes are measured at most once a minute (they change slowly)."""
        entries = self.entries()
        undecided = [e for e in entries if e.decided is None and not e.held]
        measured, decided_bytes = self._decided_bytes
        if time.monotonic() - measured > 60 or not measured:
            decided_bytes = _size(self.decided_root) if self.decided_root.exists() else 0
            self._decided_bytes = (time.monotonic(), decided_bytes)
        return {
            "held_uploads": sum(1 for e in entries if e.held),
            "bytes_held": sum(_size(self.root / e.upload_id) for e in entries) + decided_bytes,
            "uploads": len(entries),
            "undecided_uploads": len(undecided),
            "undecided_rows": sum(int(e.ledger.get("received", 0)) for e in undecided),
            "oldest_undecided": undecided[0].upload_id if undecided else None,
            "oldest_undecided_age_s": round(time.time() - undecided[0].accepted_ms / 1000, 1)
            if undecided else None,
        }  # fmt: skip


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
