"""The `credit` command's parser, by group of commands, and its entry point."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from base.settings import Settings
from credit.cli.commands import (
    _settings,
    cmd_access,
    cmd_analyst,
    cmd_analyst_ddl,
    cmd_bench,
    cmd_catalog,
    cmd_ddl,
    cmd_demo,
    cmd_keys,
    cmd_objection,
    cmd_poll,
    cmd_publish,
    cmd_query,
    cmd_replay,
    cmd_status,
    cmd_template,
    cmd_up,
    cmd_upload,
    cmd_worker,
)
from schemas.errors import CreditError

AddCommand = Callable[..., argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit", description="credit-ingest: public credit information streaming platform"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str, json_: bool = True
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--data-dir", help="platform data dir (default $CREDIT_DATA_DIR or ./.credit)"
        )
        if json_:
            p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(fn=fn)
        return p

    for group in (_platform_commands, _channel_commands, _query_command, _provider_commands,
                  _access_command, _objection_command):  # fmt: skip
        group(add)
    from credit.cli import governance, lists, outbound

    governance.add_commands(add, _settings)
    lists.add_commands(add, _settings)
    outbound.add_commands(add, _settings)
    outbound.add_spotcheck_command(add, _settings)
    _bench_command(add)
    return parser


def _platform_commands(add: AddCommand) -> None:
    """The platform's processes: up, demo, status, worker, analyst, gateway, sink."""
    add("up", cmd_up, "run the embedded platform in the foreground (Ctrl-C stops)", json_=False)
    demo = add("demo", cmd_demo, "run the platform on a synthetic month and print the summary")
    demo.add_argument("--companies", type=int, default=800)
    demo.add_argument("--persons", type=int, default=2200)
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the stream")
    demo.add_argument(
        "--keep-running", action="store_true", help="leave the platform up afterwards"
    )
    add("status", cmd_status, "is a platform up, and what does it hold")
    add("worker", cmd_worker, "run the Faust stream worker (production process)", json_=False)
    add("analyst", cmd_analyst, "run the analyst SQL engine (`credit up` runs its own)",
        json_=False)  # fmt: skip
    add("analyst-ddl", cmd_analyst_ddl, "print the analysts' views, role and grants for a "
        "ClickHouse server", json_=False)  # fmt: skip
    add("gateway", cmd_up, "HTTP ingestion + queries against real Kafka/ClickHouse", json_=False)
    add("sink", cmd_up, "the ClickHouse sink alone, with /health and /metrics", json_=False)


def _channel_commands(add: AddCommand) -> None:
    """Polling a provider's database; the store's DDL; the catalog."""
    poll = add("poll", cmd_poll, "poll a provider's database table (数据库对接) into the platform")
    poll.add_argument("config", help="YAML: provider, class, url, table|query, watermark_column …")
    poll.add_argument("--once", action="store_true", help="one poll run, then exit")
    poll.add_argument("--interval", type=float, default=60.0, help="seconds between poll runs")
    ddl = add("ddl", cmd_ddl, "print the store's DDL (in $CREDIT_CLICKHOUSE_DATABASE)", False)
    ddl.add_argument("--cluster", help="replicated variant: ON CLUSTER, Replicated*, Distributed")
    ddl.add_argument("-o", "--output", help="write the SQL to this file")
    cat = add("catalog", cmd_catalog, "list the information classes")
    cat.add_argument("--write-avsc", action="store_true", help="regenerate schemas/avro/*.avsc")


def _query_command(add: AddCommand) -> None:
    """`credit query`: what analysts and the office read."""
    query = add("query", cmd_query, "query the running platform")
    query.add_argument(
        "what",
        choices=["upload", "summary", "risk", "subject", "stats", "census", "monthly", "sql",
                 "blacklist-new"],
    )  # fmt: skip
    query.add_argument("target", nargs="?", help="upload id / USCC or ID / SQL text / monthly: "
                       "the upstream outbound target (default: the one provincial target)")  # fmt: skip
    query.add_argument("--month", help="monthly: YYYY-MM (default: last month)")
    query.add_argument("--max-rows", type=int, default=1000, help="rows for `query sql`")
    query.add_argument("--district", help="a 市/区 code or prefix (risk, stats, census)")
    query.add_argument("--purpose", help="why you read (analysts and banks must say: subject, "
                       "sql); written to the usage log")  # fmt: skip
    query.add_argument("--limit", type=int, default=20)
    query.add_argument("--since", help="blacklist-new: entries since YYYY-MM-DD (default 30 days)")
    query.add_argument("--output", help="sql, stats, census, monthly, blacklist-new: write the table to "
                       "this .csv or .xlsx (formula-like text neutralised)")  # fmt: skip


def _provider_commands(add: AddCommand) -> None:
    """What providers do: publish, release or withdraw, replay, templates, keys."""
    pub = add(
        "publish", cmd_publish, "publish an .xlsx/.csv file of one class to the running platform"
    )
    pub.add_argument("path")
    pub.add_argument("--class", dest="cls", required=True, help="class code or Chinese name")
    pub.add_argument("--provider", required=True, help="the providing organization's full name")
    pub.add_argument("--department", help="the catalog department it reports as (default: the "
                     "one it was registered with by `credit keys`)")  # fmt: skip
    pub.add_argument("--district", help="the department's 市/区 unit reporting (6-digit code; the "
                     "catalog lists the departments that report by district)")  # fmt: skip
    pub.add_argument("--period", help="the period the data covers: 2026-10, 2026-Q3, 2026 or "
                     "2026-10-01..2026-10-15 (default: the span of its rows' event dates)")  # fmt: skip
    pub.add_argument("--error-report", help="write rejected rows + reasons to this .xlsx (waits)")
    pub.add_argument(
        "--wait", action="store_true", help="wait for the stream's verdict on every row"
    )
    held = add(
        "upload", cmd_upload, "release or withdraw an upload held by the dirty-data threshold"
    )
    held.add_argument("action", choices=("release", "withdraw"))
    held.add_argument("upload_id")
    rep = add(
        "replay",
        cmd_replay,
        "re-submit an upload's dead letters (as stored, or --from a fixed report)",
    )
    rep.add_argument("upload_id")
    rep.add_argument(
        "--from", dest="source", help="the provider's corrected error report (.xlsx/.csv)"
    )
    tpl = add("template", cmd_template, "write a class's Excel template", json_=False)
    tpl.add_argument("cls", metavar="CLASS", help="class code or Chinese name")
    tpl.add_argument("-o", "--output", required=True)
    keys = add("keys", cmd_keys, "issue, list or revoke the HTTP API key of a provider")
    keys.add_argument("provider", nargs="?", help="provider's full name, recorded on every record")
    keys.add_argument("--list", action="store_true", help="every provider's key and its state")
    keys.add_argument("--revoke", action="store_true", help="end the provider's key at once")
    keys.add_argument("--department", help="the catalog department it acts as")
    keys.add_argument("--rotate", action="store_true", help="replace the provider's key with a "
                      "new one (same department and classes); the old one stops working")  # fmt: skip
    keys.add_argument("--class", dest="cls", action="append", help="limit to these classes")
    keys.add_argument("--district", help="the department's 市/区 unit it reports as (6 digits)")


def _access_command(add: AddCommand) -> None:
    """`credit access`: API tokens."""
    acc = add("access", cmd_access, "issue, list or revoke API tokens (provider/analyst/bank/"
              "party/admin/subject)")  # fmt: skip
    acc.add_argument("action", choices=["issue", "list", "revoke"])
    acc.add_argument("role", nargs="?", help="issue: provider, analyst, bank, party (a third "
                     "party that reads with the subject's consent), admin or subject; revoke: "
                     "the token id")  # fmt: skip
    acc.add_argument("name", nargs="?", help="the token holder's name (in the usage log)")
    acc.add_argument("--hours", type=float, help="issue: hours until it expires "
                     "(default CREDIT_TOKEN_HOURS, 12)")  # fmt: skip
    acc.add_argument("--institution", help="bank, party: the institution it acts for")
    acc.add_argument("--department", help="provider: the department it acts as")
    acc.add_argument("--subject", help="subject: its USCC / citizen ID")


def _objection_command(add: AddCommand) -> None:
    """`credit objection`: 异议 filed, processed and chased."""
    obj = add("objection", cmd_objection, "file, list, process and chase objections (异议)")
    obj.add_argument("action", choices=["file", "list", "accept", "resolve", "inform", "overdue"])
    obj.add_argument("objection_id", nargs="?")
    obj.add_argument("--class", dest="cls", help="file: class code of the disputed record")
    obj.add_argument("--record-key", help="file: the disputed record's record_key")
    obj.add_argument("--grounds", help="file: why the record is wrong")
    obj.add_argument("--resolution", choices=["correct", "confirm", "delete"])
    obj.add_argument("--reason", help="resolve: the reason kept with the resolution")
    obj.add_argument("--stage", help="list: filed, accepted, resolved, informed")
    obj.add_argument("--provider", help="list: one providing department's queue")
    obj.add_argument("--as-of", help="overdue: the day to judge deadlines on (YYYY-MM-DD)")
    obj.add_argument("--token", help="API token (default: the data dir's admin-token)")


def _bench_command(add: AddCommand) -> None:
    """`credit bench`."""
    bench = add("bench", cmd_bench, "throughput/latency benchmark with baselines (own /tmp dir)")
    bench.add_argument("--records", type=int, default=100000, help="throughput-phase records")
    bench.add_argument("--latency-rate", type=int, default=1000, help="records/s, latency phase")
    bench.add_argument("--latency-seconds", type=float, default=20.0)
    bench.add_argument("--subjects", type=int, default=0, help="distinct subjects (0: records/2)")
    bench.add_argument("--scale", type=int, default=0, metavar="N",
                       help="instead: plant N stored records and time the subject report, the "
                            "risk list and the analyst export (e.g. 10000000)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from base.logs import configure

    settings = Settings()
    verbose = args.command in ("worker", "analyst")
    configure(settings.log_level if verbose else "WARNING", settings.log_format)
    try:
        from streams.core import banned

        banned.configure(settings.banned_jurisdiction)  # this process's list, and its children's
        return int(args.fn(args))
    except CreditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `credit … | head`: the reader left; no traceback at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
