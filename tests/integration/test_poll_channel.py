"""The database polling channel (数据库对接) against a real platform and a real provider database.

The provider database is PostgreSQL when its Debian binaries and a driver are on the machine
(started here in a temp dir), and always SQLite; the platform is `credit up`.
"""

from __future__ import annotations

import glob
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from base.settings import Settings
from credit.cli.poll import connect_publisher
from producers.poller import Poller, load_config
from schemas.catalog import Catalog
from schemas.codes import random_uscc

if TYPE_CHECKING:
    from tests.integration.conftest import WaitFate

pytestmark = pytest.mark.integration

PROVIDER = "江阴市水务集团有限公司"
Fate = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server from the machine's Debian binaries (none are installed)."""
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    pytest.importorskip("psycopg", reason="no PostgreSQL driver (psycopg) installed")
    bindir = Path(initdbs[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="credit-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser")
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"],
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                    "-o", opts, "-w", "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def provider_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend, SQLAlchemy URL) of an empty provider database."""
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'billing.db'}"
    return "postgresql", str(request.getfixturevalue("postgres_url"))


def _create_table(engine: sa.Engine) -> sa.Table:
    table = sa.Table(
        "water_arrears", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer", sa.String(200)), sa.Column("credit_code", sa.String(18)),
        sa.Column("account", sa.String(40)), sa.Column("kind", sa.String(20)),
        sa.Column("period_from", sa.Date), sa.Column("period_to", sa.Date),
        sa.Column("days_overdue", sa.Integer), sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("updated_at", sa.DateTime),
    )  # fmt: skip
    table.drop(engine, checkfirst=True)
    table.create(engine)
    return table


def _rows(first_id: int, codes: list[str]) -> list[dict[str, Any]]:
    import datetime as dt

    # several rows share one updated_at, so the paging (batch_size 2) must not split a tie
    at = dt.datetime(2026, 10, 20, 8, 0) + dt.timedelta(hours=first_id)
    return [
        {"id": first_id + i, "customer": f"企业{first_id + i}", "credit_code": code,
         "account": f"W{first_id + i:04d}", "kind": "水费", "period_from": dt.date(2026, 7, 1),
         "period_to": dt.date(2026, 9, 30), "days_overdue": 92, "amount": "1200.50",
         "updated_at": at + dt.timedelta(minutes=i // 3)}
        for i, code in enumerate(codes)
    ]  # fmt: skip


def _config(tmp_path: Path, url: str, provider: str, watermark: str) -> Path:
    config = {
        "provider": provider, "class": "社会法人欠缴费用信息", "url": url,
        "table": "water_arrears", "watermark_column": watermark, "key_column": "id",
        "batch_size": 2,
        "columns": {"customer": "机构全称", "credit_code": "统一社会信用代码", "account": "账号",
                    "kind": "arrears_type", "period_from": "欠缴统计开始日期",
                    "period_to": "欠缴统计截止日期", "days_overdue": "拖欠天数",
                    "amount": "欠费金额"},
        "constants": {"信息来源部门全称": provider, "提供单位全称": provider,
                      "提供日期": "2026-10-20"},
    }  # fmt: skip
    path = tmp_path / "poll.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _stored(api_url: str) -> int:
    return int(httpx.get(f"{api_url}/api/status").json()["stored"].get("legal_arrears", 0))


def test_each_new_row_is_sent_once_across_runs_restarts_and_a_lost_commit(
    platform: dict[str, Any],
    catalog: Catalog,
    provider_db: tuple[str, str],
    tmp_path: Path,
    wait_fate: WaitFate,
    credit_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    backend, url = provider_db
    provider = f"{PROVIDER}（{backend}）"  # its own records and state file per backend
    # an id watermark on SQLite, an updated_at timestamp (with ties) on PostgreSQL
    watermark = "id" if backend == "sqlite" else "updated_at"
    engine = sa.create_engine(url)
    table = _create_table(engine)
    rng = random.Random(11 if backend == "sqlite" else 12)
    codes = [random_uscc(rng) for _ in range(6)]
    bad = codes[5][:-1] + ("1" if codes[5][-1] != "1" else "2")
    with engine.begin() as conn:
        conn.execute(table.insert(), _rows(1, [*codes[:5], bad]))
    config = _config(tmp_path, url, provider, watermark)
    data_dir: Path = platform["data_dir"]

    # 1. the first run, through the CLI a provider's operator uses
    run = credit_cli("poll", str(config), "--once", "--json", data_dir=data_dir)
    assert run.returncode == 0, run.stderr
    first = json.loads(run.stdout)
    assert (first["received"], first["watermark_before"]) == (6, None)
    fate = wait_fate(first["upload_id"])
    assert fate == {**fate, "received": 6, "stored": 5, "rejected": 1, "pending": 0}
    rejected = httpx.get(f"{platform['api_url']}/api/uploads/{first['upload_id']}/rejected")
    [row] = rejected.json()["rejected"]
    # the rejected-rows API has no source key yet; the payload names the provider's row
    assert "uscc.check_digit" in row["reason_codes"] and "W0006" in str(row["payload"])
    state_file = data_dir / "poll" / f"{provider}-legal_arrears.json"
    assert state_file.exists()
    state_after_first = state_file.read_text("utf-8")

    # 2. more rows arrive; the next run sends only those
    job = load_config(config, catalog)
    settings = Settings(data_dir=data_dir)
    poller = Poller(job, catalog, connect_publisher(settings, provider), data_dir / "poll")
    with engine.begin() as conn:
        conn.execute(table.insert(), _rows(7, [random_uscc(rng) for _ in range(4)]))
    second = poller.poll_once()
    poller.close()
    assert (second.received, second.sent, second.rejected) == (4, 4, 0)
    assert second.upload_id is not None
    assert wait_fate(second.upload_id)["stored"] == 4
    stored_before = _stored(platform["api_url"])

    # 3. a restart (new poller, same state dir) sends nothing
    restarted = Poller(job, catalog, connect_publisher(settings, provider), data_dir / "poll")
    again = restarted.poll_once()
    assert (again.upload_id, again.received) == (None, 0)
    assert again.watermark_before == second.watermark_after

    # 4. a crash between publish and commit: the rows are re-sent, the store keeps them once
    state_file.write_text(state_after_first, "utf-8")
    resent = restarted.poll_once()
    restarted.close()
    assert resent.received == 4 and resent.upload_id is not None
    assert wait_fate(resent.upload_id)["stored"] == 4
    assert _stored(platform["api_url"]) == stored_before
    engine.dispose()
