"""Database polling channel (数据库对接): a provider's table, read by watermark, into `publish_rows`.

A provider that offers its data by database link (the catalog's `db_link` method) is described
by a small YAML file::

    provider: 江阴市水务集团有限公司       # recorded on every record as the provider
    class: 社会法人欠缴费用信息             # class code or Chinese name
    url: postgresql+psycopg://reader@db.example/billing    # any SQLAlchemy URL
    table: arrears                         # or `query: SELECT … FROM …` (exactly one)
    watermark_column: id                   # monotonic: an increasing id or an updated_at
    key_column: account_id                 # optional: the row's identity (its source key)
    batch_size: 1000                       # rows per page (default 1000)
    columns:                               # database column → field name or Chinese label
      org_name: 机构全称
      uscc: 统一社会信用代码
    constants:                             # optional: the same value on every record
      信息来源部门全称: 江阴市水务集团有限公司

Ordered protocol of one poll run (one upload id); a crash anywhere costs at most a re-send:

1. lock and read the committed watermark, `<data_dir>/poll/<provider>-<class>.json`;
2. stream the rows with watermark > committed, ORDER BY watermark, LIMIT batch_size per page,
   through a server-side cursor, until a page comes back short. Rows that tie with a full
   page's last watermark are read with it, so a page boundary never splits a tie;
3. hand every row to `publish_rows` (intake → send or dead-letter, counted), which flushes
   the producer, publishes the upload ledger and flushes again;
4. ONLY THEN write the highest watermark sent, atomically (temp file, fsync, rename).

A crash after 3 and before 4 makes the next run re-send those rows under a new upload id; they
carry the same source key (`key_column`, else the watermark value), hence the same record key,
and the store keeps them once. If the database fails in the middle of step 2, the rows read so
far are closed as an upload that adds up, nothing is committed, and the error is raised.

Limits a watermark cannot avoid: a row whose watermark is NULL is never read, nor one that
appears later with a watermark at or below the committed one (an updated_at set before a long
transaction commits). Use an increasing id, or a timestamp set at commit. Without `key_column`
the watermark is the source key, so it must be unique (an id); with an updated_at watermark set
`key_column` to the primary key, so an updated row replaces its earlier version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from base.dirty import DirtyThreshold
from producers.channel import publish_rows
from producers.durable_intake import DurableIntake
from producers.exceptions import (
    MissingColumnError,
    MissingTableError,
    PollConfigError,
    PollSourceError,
    SourceUnavailableError,
    UnknownFieldError,
    WatermarkStateError,
)
from producers.publisher import Publisher, new_upload_id
from schemas.catalog import Catalog, FieldSpec, InfoClass, normalize_label
from schemas.exceptions import UnknownClassError

CHANNEL = "poll"
STREAM_CHUNK = 500  # rows fetched per round trip of the server-side cursor
log = logging.getLogger(__name__)


class PollConfig(BaseModel):
    """The YAML file as written; `load_config` checks it against the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    provider: str = Field(min_length=1)
    class_name: str = Field(alias="class", min_length=1)
    url: str = Field(min_length=1)
    table: str | None = None
    query: str | None = None
    watermark_column: str = Field(min_length=1)
    key_column: str | None = None
    columns: dict[str, str] = Field(min_length=1)
    constants: dict[str, str | int | float | dt.date] = {}
    batch_size: int = Field(1000, ge=1, le=100_000)


@dataclass(frozen=True)
class PollJob:
    """A checked config: the class, and every column and constant resolved to a field name."""

    path: Path
    config: PollConfig
    cls: InfoClass
    mapping: dict[str, str]  # database column → field name
    constants: dict[str, Any]  # field name → value

    @property
    def source_id(self) -> str:
        """What the committed watermark belongs to: the table, or a digest of the query."""
        cfg = self.config
        if cfg.table:
            return f"table:{cfg.table}"
        return "query:" + hashlib.sha256((cfg.query or "").encode()).hexdigest()[:16]


def _field_of(cls: InfoClass, target: str) -> FieldSpec | None:
    return cls.by_name.get(target) or cls.by_label.get(normalize_label(target))


def _resolve(path: Path, key: str, cls: InfoClass, target: str) -> str:
    spec = _field_of(cls, str(target))
    if spec is not None:
        return spec.name
    choices = [*cls.by_name, *(f.label for f in cls.fields)]
    near = difflib.get_close_matches(str(target), choices, n=1, cutoff=0.5)
    hint = f"; did you mean '{near[0]}'? / 是否为「{near[0]}」" if near else ""
    raise UnknownFieldError(
        path, key, f"'{target}' is not a field of {cls.code} ({cls.name}) / "
        f"「{target}」不是「{cls.name}」的数据项{hint}; `credit catalog --json` lists the fields",
    )  # fmt: skip


def load_config(path: Path, catalog: Catalog) -> PollJob:
    """Read and check a poller config; every error names the file and the key to fix."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PollConfigError(path, "-", f"cannot read the config: {exc}") from exc
    if not isinstance(data, dict):
        raise PollConfigError(path, "-", "expected a mapping (provider:, class:, url: …)")
    try:
        cfg = PollConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "-"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PollConfigError(path, key, f"{first['msg']}{more}") from exc
    if (cfg.table is None) == (cfg.query is None):
        raise PollConfigError(path, "table", "give exactly one of `table` and `query`")
    try:
        make_url(cfg.url)
    except sa_exc.ArgumentError as exc:
        raise PollConfigError(path, "url", f"not a SQLAlchemy URL ({exc}); write e.g. "
                              "postgresql+psycopg://user@host/db or sqlite:////path/to.db") from exc  # fmt: skip
    try:
        cls = catalog.get(cfg.class_name)
    except UnknownClassError as exc:
        raise PollConfigError(path, "class", str(exc)) from exc
    mapping = {col: _resolve(path, f"columns.{col}", cls, t) for col, t in cfg.columns.items()}
    constants = {_resolve(path, f"constants.{k}", cls, k): v for k, v in cfg.constants.items()}
    given = [(f"columns.{c}", n) for c, n in mapping.items()]
    given += [(f"constants.{k}", _resolve(path, f"constants.{k}", cls, k)) for k in cfg.constants]
    seen: dict[str, str] = {}
    for where, name in given:
        if name in seen:
            raise PollConfigError(path, where, f"field {name} is already given by {seen[name]}")
        seen[name] = where
    missing = [f.label for f in cls.fields if f.required and f.name not in seen]
    if missing:
        raise PollConfigError(path, "columns", f"required fields of {cls.code} not mapped: "
                              f"{missing}; map a column or give a value under `constants`")  # fmt: skip
    return PollJob(path, cfg, cls, mapping, constants)


# --- the committed watermark --------------------------------------------------------------


def encode_watermark(value: Any) -> dict[str, Any]:
    """A watermark as JSON that keeps its type, so it binds back as the same SQL type."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return {"type": type(value).__name__, "value": value}
    elif isinstance(value, dt.datetime | dt.date):
        return {"type": type(value).__name__, "value": value.isoformat()}
    elif isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    raise WatermarkStateError(
        f"a {type(value).__name__} value cannot be a watermark; "
        "use an increasing integer id or a timestamp column"
    )


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "int": int, "float": float, "str": str, "decimal": Decimal,
    "datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat,
}  # fmt: skip


def decode_watermark(data: dict[str, Any]) -> Any:
    return _DECODERS[data["type"]](data["value"])


class WatermarkState:
    """One state file per provider and class; written only after the broker acknowledged."""

    def __init__(self, path: Path, job: PollJob) -> None:
        self.path = path
        self._column = job.config.watermark_column
        self._source = job.source_id

    def load(self) -> Any | None:
        """The committed watermark, or None before the first commit."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            belongs = (data["watermark_column"], data["source"])
            value = decode_watermark(data["watermark"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WatermarkStateError(
                f"{self.path}: unreadable watermark state ({exc}); fix it, or delete it to "
                "read the source from the start (re-sent rows are stored once)"
            ) from exc
        if belongs != (self._column, self._source):
            raise WatermarkStateError(
                f"{self.path} holds the watermark of {belongs[0]} in {belongs[1]}, but the "
                f"config reads {self._column} in {self._source}; delete the file to read the "
                "new source from the start (re-sent rows are stored once)"
            )
        return value

    def commit(self, value: Any, upload_id: str) -> None:
        """Atomic: a reader sees the old state or the new one, never a torn file."""
        body = {
            "watermark_column": self._column, "source": self._source,
            "watermark": encode_watermark(value), "upload_id": upload_id,
            "committed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }  # fmt: skip
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(body, fh, ensure_ascii=False, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the rename itself survives a power cut
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise WatermarkStateError(f"cannot write {self.path}: {exc}") from exc

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One run at a time per provider and class, across processes."""
        lock = self.path.with_name(self.path.name + ".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WatermarkStateError(
                    f"another poller is running for this provider and class (lock {lock})"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def state_path(state_dir: Path, job: PollJob) -> Path:
    # keep the provider readable (Chinese, full-width brackets); drop what a path cannot hold
    name = re.sub(r"[\s/\\:*?\"<>|\x00-\x1f]+", "_", f"{job.config.provider}-{job.cls.code}")
    return state_dir / f"{name}.json"


# --- the provider's database --------------------------------------------------------------


class DbSource:
    """The configured table or query, checked once; `rows_after` streams it in watermark order."""

    def __init__(self, job: PollJob, engine: sa.Engine | None = None) -> None:
        cfg = job.config
        self._shown = make_url(cfg.url).render_as_string(hide_password=True)
        self._engine = engine or self._create_engine(cfg.url)
        self._batch = cfg.batch_size
        self._wm = cfg.watermark_column
        self._key = cfg.key_column
        self.needed = list(dict.fromkeys([self._wm, *([self._key] if self._key else []),
                                          *job.mapping]))  # fmt: skip
        with self._connect() as conn:
            available, self._source = self._reflect(conn, cfg)
        missing = [c for c in self.needed if c not in available]
        if missing:
            near = {c: difflib.get_close_matches(c, available, n=1, cutoff=0.6) for c in missing}
            hints = "".join(f"; '{c}' → did you mean '{n[0]}'?" for c, n in near.items() if n)
            raise MissingColumnError(
                f"{self._where(cfg)} has no column {missing}{hints} (it has {available[:40]})"
            )

    def _create_engine(self, url: str) -> sa.Engine:
        try:
            return sa.create_engine(url)
        except sa_exc.NoSuchModuleError as exc:
            raise PollSourceError(
                f"unknown database dialect in `url` {self._shown}: {exc}"
            ) from exc
        except ImportError as exc:
            raise PollSourceError(
                f"the database driver for {self._shown} is not installed ({exc.name}); "
                "install it (e.g. psycopg[binary] with postgresql+psycopg://) or pick another"
            ) from exc

    def _where(self, cfg: PollConfig) -> str:
        return f"table {cfg.table} in {self._shown}" if cfg.table else f"`query` on {self._shown}"

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise SourceUnavailableError(
                f"database {self._shown} does not answer: {exc.orig or exc}"
            ) from exc
        except sa_exc.DBAPIError as exc:
            raise PollSourceError(f"database {self._shown} refused the poll: {exc.orig}") from exc

    def _reflect(self, conn: sa.Connection, cfg: PollConfig) -> tuple[list[str], Any]:
        if cfg.table:
            schema, _, name = cfg.table.rpartition(".")
            try:
                table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
            except sa_exc.NoSuchTableError:
                tables = sa.inspect(conn).get_table_names(schema=schema or None)
                near = difflib.get_close_matches(name, tables, n=1, cutoff=0.6)
                hint = f"; did you mean '{near[0]}'?" if near else f" (tables: {tables[:40]})"
                raise MissingTableError(f"no table '{cfg.table}' in {self._shown}{hint}") from None
            return list(table.c.keys()), table
        source = sa.text(f"({cfg.query}) AS poll_source")
        probe: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(source).limit(0)
        available = list(conn.execute(probe).keys())
        cols: list[sa.ColumnClause[Any]] = [sa.column(c) for c in available]
        return available, sa.text(cfg.query or "").columns(*cols).subquery("poll_source")

    def _stream(self, stmt: sa.Select[Any]) -> Iterator[sa.RowMapping]:
        with self._connect() as conn:
            yield from conn.execution_options(yield_per=STREAM_CHUNK).execute(stmt).mappings()

    def rows_after(self, after: Any | None) -> Iterator[sa.RowMapping]:
        """Every row with watermark > `after`, in watermark order, page by page.

        A page is held back one tie group at a time: when a full page ends, the rows sharing
        its last watermark may go on past the LIMIT, so that group is read on its own, as
        `below < watermark <= top` (not `= top`: SQLite may store a timestamp in another
        spelling than the one bound, and only the order comparisons survive that).
        """
        src = self._source
        wm = src.c[self._wm]
        order: list[sa.ColumnElement[Any]] = [wm, *([src.c[self._key]] if self._key else [])]
        base = sa.select(*(src.c[c] for c in self.needed)).where(wm.is_not(None))
        while True:
            page = base if after is None else base.where(wm > after)
            count, group, top, below = 0, list[sa.RowMapping](), None, after
            for row in self._stream(page.order_by(*order).limit(self._batch)):
                count += 1
                if group and row[self._wm] != top:
                    yield from group
                    group, below = [], top
                group.append(row)
                top = row[self._wm]
            if count < self._batch:
                yield from group
                return
            ties = base.where(wm <= top) if below is None else base.where(wm > below, wm <= top)
            yield from self._stream(ties.order_by(*order))
            after = top

    def close(self) -> None:
        self._engine.dispose()


# --- one poll run -------------------------------------------------------------------------


@dataclass
class PollResult:
    provider: str
    class_code: str
    upload_id: str | None  # None: no new rows, nothing published
    watermark_before: Any
    watermark_after: Any
    received: int = 0
    sent: int = 0
    rejected: int = 0
    seconds: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class _Progress:
    last: Any = None
    error: PollSourceError | None = None


class Poller:
    """Polls one provider table for one class; each `poll_once` is one upload."""

    def __init__(
        self,
        job: PollJob,
        catalog: Catalog,
        publisher: Publisher,
        state_dir: Path,
        source: DbSource | None = None,
        intake: DurableIntake | None = None,
        hold_above: DirtyThreshold | None = None,
    ) -> None:
        self.intake = intake
        self.hold_above = hold_above
        self.job = job
        self._catalog = catalog
        self._publisher = publisher
        self.state = WatermarkState(state_path(state_dir, job), job)
        self._source = source or DbSource(job)

    def _raw(self, row: sa.RowMapping) -> dict[str, Any]:
        raw: dict[str, Any] = dict(self.job.constants)
        for col, name in self.job.mapping.items():
            raw[name] = row[col]
        key_col = self.job.config.key_column
        key = row[key_col] if key_col else None
        key = row[self.job.config.watermark_column] if key is None or key == "" else key
        raw["source_key"] = key.isoformat() if isinstance(key, dt.date) else str(key)
        return raw

    def _rows(self, after: Any, progress: _Progress) -> Generator[tuple[None, dict[str, Any]]]:
        column = self.job.config.watermark_column
        try:
            for row in self._source.rows_after(after):
                if progress.last is None:
                    try:  # an unusable type stops the run before anything is sent
                        encode_watermark(row[column])
                    except WatermarkStateError as exc:
                        raise WatermarkStateError(f"watermark_column {column}: {exc}") from None
                progress.last = row[column]
                yield None, self._raw(row)
        except PollSourceError as exc:
            progress.error = exc  # end the upload cleanly; `poll_once` raises after it

    def poll_once(self) -> PollResult:
        """One run of the ordered protocol in the module docstring."""
        started = time.monotonic()
        cfg, cls = self.job.config, self.job.cls
        with self.state.locked():
            before = self.state.load()  # 1. the committed watermark
            result = PollResult(cfg.provider, cls.code, None, before, before)
            progress = _Progress()
            rows = self._rows(before, progress)  # 2. read lazily, streamed into step 3
            try:
                first = next(rows, None)
                if first is not None:  # 3. send or dead-letter, flush, ledger, flush
                    result.upload_id = new_upload_id(CHANNEL)
                    sent = publish_rows(self._publisher, cls, self._catalog,
                                        itertools.chain([first], rows), result.upload_id,
                                        cfg.table or "query", intake=self.intake,
                                        hold_above=self.hold_above)  # fmt: skip
                    result.received, result.sent = sent.received, sent.sent
                    result.rejected, result.errors = sent.rejected, sent.errors
            finally:
                rows.close()  # a failed publish must not leave the cursor open
            if progress.error is not None:
                held = f" (upload {result.upload_id} holds the rows read before it)"
                raise type(progress.error)(
                    f"{progress.error}{held if result.upload_id else ''}; nothing committed"
                ) from progress.error
            if result.upload_id is not None:
                self.state.commit(progress.last, result.upload_id)  # 4. only now
                result.watermark_after = progress.last
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def close(self) -> None:
        self._source.close()
