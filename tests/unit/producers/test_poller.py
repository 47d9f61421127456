"""The database poller without a broker: config errors, source errors, paging, watermark state."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
import yaml

from producers.exceptions import (
    MissingColumnError,
    MissingTableError,
    PollConfigError,
    PollSourceError,
    PublishError,
    SourceUnavailableError,
    UnknownFieldError,
    WatermarkStateError,
)
from producers.poller import (
    DbSource,
    Poller,
    PollJob,
    WatermarkState,
    decode_watermark,
    encode_watermark,
    load_config,
    state_path,
)
from producers.publisher import Publisher
from schemas.catalog import Catalog, default_catalog

CATALOG: Catalog = default_catalog()
COLUMNS = {
    "org_name": "机构全称", "uscc": "统一社会信用代码", "account_no": "account_no",
    "arrears_type": "欠缴类型名称", "arrears_start": "欠缴统计开始日期",
    "arrears_end": "欠缴统计截止日期", "overdue_days": "拖欠天数", "arrears_amount": "欠费金额",
}  # fmt: skip
CONSTANTS = {"信息来源部门全称": "江阴市水务集团有限公司", "提供单位全称": "江阴市水务集团有限公司",
             "提供日期": "2026-10-20"}  # fmt: skip


def write_config(tmp_path: Path, **changes: Any) -> Path:
    config: dict[str, Any] = {
        "provider": "江阴市水务集团有限公司", "class": "社会法人欠缴费用信息",
        "url": f"sqlite:///{tmp_path / 'provider.db'}", "table": "arrears",
        "watermark_column": "id", "key_column": "account_no", "columns": dict(COLUMNS),
        "constants": dict(CONSTANTS), "batch_size": 2,
    }  # fmt: skip
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path = tmp_path / "poll.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def make_table(tmp_path: Path, watermarks: list[Any], wm_type: str = "INTEGER") -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'provider.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"CREATE TABLE arrears (pk INTEGER PRIMARY KEY, id {wm_type}, org_name TEXT, "
            "uscc TEXT, account_no TEXT, arrears_type TEXT, arrears_start DATE, "
            "arrears_end DATE, overdue_days INTEGER, arrears_amount NUMERIC(12, 2))"
        ))  # fmt: skip
        for i, wm in enumerate(watermarks):
            conn.execute(
                sa.text("INSERT INTO arrears (id, org_name, account_no) VALUES (:w, :n, :a)"),
                {"w": wm, "n": f"企业{i}", "a": f"A{i:03d}"},
            )
    return engine


def job(tmp_path: Path, **changes: Any) -> PollJob:
    return load_config(write_config(tmp_path, **changes), CATALOG)


# --- config errors ------------------------------------------------------------------------


def test_a_valid_config_resolves_labels_and_names_to_fields(tmp_path: Path) -> None:
    loaded = job(tmp_path)
    assert loaded.cls.code == "legal_arrears"
    assert loaded.mapping["uscc"] == "uscc" and loaded.mapping["org_name"] == "org_name"
    assert loaded.constants["provide_date"] == "2026-10-20"


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"watermark_column": None}, "watermark_column", "Field required"),
        ({"watermark_colum": "id"}, "watermark_colum", "Extra inputs"),
        ({"batch_size": 0}, "batch_size", "greater than or equal to 1"),
        ({"query": "SELECT * FROM arrears"}, "table", "exactly one of `table` and `query`"),
        ({"table": None}, "table", "exactly one of `table` and `query`"),
        ({"url": "not a url"}, "url", "not a SQLAlchemy URL"),
        ({"class": "社会法人欠费信息"}, "class", "did you mean '社会法人欠缴费用信息'"),
        ({"columns": {"amount": "欠费金额", "who": "机构全称"}}, "columns", "not mapped"),
    ],
)
def test_config_errors_name_the_key_to_fix(
    tmp_path: Path, changes: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(PollConfigError) as err:
        job(tmp_path, **changes)
    assert err.value.key == key
    assert words in str(err.value) and str(tmp_path / "poll.yaml") in str(err.value)


def test_mapping_to_an_unknown_field_suggests_the_near_one(tmp_path: Path) -> None:
    with pytest.raises(UnknownFieldError) as err:
        job(tmp_path, columns={**COLUMNS, "amt": "欠费金"})
    assert err.value.key == "columns.amt"
    assert "did you mean '欠费金额'" in str(err.value)


def test_a_field_given_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PollConfigError, match=r"already given by columns\.org_name") as err:
        job(tmp_path, columns={**COLUMNS, "name2": "org_name"})
    assert err.value.key == "columns.name2"


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "poll.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(PollConfigError, match="expected a mapping"):
        load_config(path, CATALOG)


# --- source errors ------------------------------------------------------------------------


def test_a_missing_table_is_named_with_a_suggestion(tmp_path: Path) -> None:
    make_table(tmp_path, [])
    with pytest.raises(MissingTableError, match=r"no table 'arrear'.*did you mean 'arrears'"):
        DbSource(job(tmp_path, table="arrear"))


def test_a_missing_column_is_named_with_a_suggestion(tmp_path: Path) -> None:
    make_table(tmp_path, [])
    with pytest.raises(MissingColumnError, match=r"no column \['overdue'\].*'overdue_days'"):
        columns = {**COLUMNS, "overdue": COLUMNS["overdue_days"]}
        del columns["overdue_days"]
        DbSource(job(tmp_path, columns=columns))


def test_a_missing_driver_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(PollSourceError, match=r"driver .* is not installed"):
        DbSource(job(tmp_path, url="mysql+mysqldb://reader:secret@db/billing"))


def test_an_unreachable_database_is_reported_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailableError, match="does not answer"):
        DbSource(job(tmp_path, url=f"sqlite:///{tmp_path}/no/such/dir/x.db"))
    with pytest.raises(PollSourceError) as err:  # unavailable, or the driver is not installed
        DbSource(job(tmp_path, url="postgresql+psycopg://reader:s3cret@127.0.0.1:1/billing"))
    assert "s3cret" not in str(err.value) and "reader:***@" in str(err.value)


# --- paging ------------------------------------------------------------------------------


def test_ties_across_a_page_boundary_are_read_once_each(tmp_path: Path) -> None:
    make_table(tmp_path, [1, 2, 2, 2, 3, 4, 4, 5])
    source = DbSource(job(tmp_path, batch_size=2))
    rows = list(source.rows_after(None))
    assert [r["account_no"] for r in rows] == [f"A{i:03d}" for i in range(8)]
    assert [r["id"] for r in source.rows_after(2)] == [3, 4, 4, 5]
    assert list(source.rows_after(5)) == []


def test_timestamp_ties_survive_sqlites_spelling_of_timestamps(tmp_path: Path) -> None:
    stamps = ["2026-10-01 08:00:00", "2026-10-01 09:00:00", "2026-10-01 09:00:00",
              "2026-10-01 09:00:00", "2026-10-02 10:30:00"]  # fmt: skip
    make_table(tmp_path, stamps, wm_type="TIMESTAMP")
    source = DbSource(job(tmp_path, batch_size=2))
    rows = list(source.rows_after(None))
    assert len(rows) == 5 and isinstance(rows[0]["id"], dt.datetime)
    later = list(source.rows_after(dt.datetime(2026, 10, 1, 9)))
    assert [r["account_no"] for r in later] == ["A004"]


def test_a_query_source_is_paged_like_a_table(tmp_path: Path) -> None:
    make_table(tmp_path, [10, 20, 30])
    source = DbSource(job(tmp_path, table=None, query="SELECT * FROM arrears WHERE id > 10"))
    assert [r["id"] for r in source.rows_after(None)] == [20, 30]


def test_rows_with_a_null_watermark_are_not_read(tmp_path: Path) -> None:
    make_table(tmp_path, [None, 1])
    assert [r["id"] for r in DbSource(job(tmp_path)).rows_after(None)] == [1]


# --- watermark state ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [42, "k-0042", Decimal("12.50"), dt.date(2026, 10, 1), dt.datetime(2026, 10, 1, 9, 30)]
)
def test_a_watermark_keeps_its_type_through_the_state_file(value: Any) -> None:
    assert decode_watermark(json.loads(json.dumps(encode_watermark(value)))) == value


def test_a_watermark_of_another_type_is_refused() -> None:
    with pytest.raises(WatermarkStateError, match="increasing integer id or a timestamp"):
        encode_watermark(b"\x00")


def test_state_is_committed_atomically_and_belongs_to_its_source(tmp_path: Path) -> None:
    loaded = job(tmp_path)
    path = state_path(tmp_path / "poll", loaded)
    assert path.name == "江阴市水务集团有限公司-legal_arrears.json"
    state = WatermarkState(path, loaded)
    assert state.load() is None
    with state.locked():
        state.commit(7, "poll-1")
        with pytest.raises(WatermarkStateError, match="another poller"), state.locked():
            pass
    assert state.load() == 7 and not list(path.parent.glob("*.tmp"))
    other = load_config(write_config(tmp_path, watermark_column="pk"), CATALOG)
    with pytest.raises(WatermarkStateError, match="delete the file"):
        WatermarkState(path, other).load()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(WatermarkStateError, match="unreadable"):
        state.load()


def test_the_state_file_name_keeps_the_provider_readable(tmp_path: Path) -> None:
    loaded = job(tmp_path, provider="水务集团/城区（一）")
    assert state_path(tmp_path, loaded).name == "水务集团_城区（一）-legal_arrears.json"


# --- the ordered protocol, with a stand-in publisher -----------------------------------------


class FakePublisher:
    """What `publish_rows` calls on a Publisher; `fail` makes the broker refuse the flush."""

    provider, channel = "江阴市水务集团有限公司", "poll"

    def __init__(self, fail: bool = False) -> None:
        self.keys: list[str] = []
        self.ledgers: list[dict[str, Any]] = []
        self.fail = fail

    def send(self, cls: Any, record: Any, upload_id: str, row: Any, key: str) -> list[Any]:
        self.keys.append(key)
        return []

    def reject(self, cls: Any, payload: Any, upload_id: str, row: Any, key: str, why: Any) -> None:
        self.keys.append(key)

    def flush(self, timeout: float = 60.0) -> None:
        if self.fail:
            raise PublishError("1 messages not acknowledged by the broker in 60s")

    def record_upload(self, ledger: dict[str, Any]) -> None:
        self.ledgers.append(ledger)


def poller(tmp_path: Path, publisher: FakePublisher, source: Any = None) -> Poller:
    loaded = job(tmp_path)
    return Poller(loaded, CATALOG, cast(Publisher, publisher), tmp_path / "state", source)


def test_the_watermark_is_committed_only_after_the_broker_acknowledged(tmp_path: Path) -> None:
    make_table(tmp_path, [1, 2, 3])
    with pytest.raises(PublishError):
        poller(tmp_path, FakePublisher(fail=True)).poll_once()
    assert poller(tmp_path, FakePublisher()).state.load() is None  # nothing committed
    publisher = FakePublisher()
    result = poller(tmp_path, publisher).poll_once()
    assert (result.received, result.watermark_after) == (3, 3)
    assert publisher.keys == ["A000", "A001", "A002"] and len(publisher.ledgers) == 1
    quiet = FakePublisher()
    again = poller(tmp_path, quiet).poll_once()
    assert (again.upload_id, quiet.keys, quiet.ledgers) == (None, [], [])


class BrokenSource:
    """Two rows, then the database goes away."""

    def rows_after(self, after: Any) -> Iterator[dict[str, Any]]:
        for i in (1, 2):
            yield {**dict.fromkeys(COLUMNS), "id": i, "account_no": f"A{i:03d}"}
        raise SourceUnavailableError("database sqlite:///x does not answer: gone")

    def close(self) -> None:
        pass


def test_a_database_failure_mid_run_closes_the_upload_and_commits_nothing(
    tmp_path: Path,
) -> None:
    make_table(tmp_path, [])
    publisher = FakePublisher()
    broken = poller(tmp_path, publisher, BrokenSource())
    with pytest.raises(SourceUnavailableError, match="holds the rows read before it"):
        broken.poll_once()
    assert len(publisher.keys) == 2
    assert [(x["received"], x["sent"] + x["rejected"]) for x in publisher.ledgers] == [(2, 2)]
    assert broken.state.load() is None
