"""The `credit` command: one entry point, settings read once, every result also as `--json`."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from base.settings import Settings
from schemas.errors import CreditError


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    return Settings(**overrides)


def _exit_cleanly_on(*signals: int) -> None:
    """Turn these signals into SystemExit, so `with Platform(...)` stops what it started."""

    def leave(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in signals:
        signal.signal(sig, leave)


def cmd_up(args: argparse.Namespace) -> int:
    from credit.runtime import EMBEDDED, GATEWAY, SINK, Platform

    settings = _settings(args)
    components = {"up": EMBEDDED, "gateway": GATEWAY, "sink": SINK}[args.command]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with Platform(settings, components=components) as platform:
            print(f"credit-ingest {args.command} is up: API {platform.api_url}  broker "
                  f"{platform.bootstrap}  data {platform.data_dir}  (Ctrl-C stops)\n"
                  f"console: {platform.api_url}/console/", flush=True)  # fmt: skip
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(1.0):
                    platform.supervise()
            print("stopping…", flush=True)
    except KeyboardInterrupt:  # Ctrl-C while starting: what was started is stopped
        print("stopped while starting", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from credit.demo import format_summary, run_demo
    from credit.runtime import Platform

    settings = _settings(args)
    _exit_cleanly_on(signal.SIGTERM, signal.SIGHUP)  # the platform's children stop with it
    with Platform(settings) as platform:
        print(f"platform up: API {platform.api_url}, broker {platform.bootstrap}", file=sys.stderr)
        result = run_demo(platform, args.companies, args.persons, args.timeout)
        if args.json:
            _print_json(result)
        else:
            t = result["totals"]
            print(f"Synthetic month {result['month']}: {result['rows']} records in "
                  f"{result['uploads']} uploads, all accounted for in {result['seconds']} s: "
                  f"stored {t['stored']}, rejected {t['rejected']} — as planted.")  # fmt: skip
            print(format_summary(result["classes"], result["at_risk"], platform.catalog))
        if args.keep_running:
            print(f"\nstill running at {platform.api_url} — Ctrl-C stops", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from credit.client import connect
    from credit.exceptions import NotRunningError

    settings = _settings(args)
    try:
        code, body = connect(settings).get("/api/status")
    except NotRunningError as exc:
        body, code = {"ready": False, "error": str(exc)}, 503
    ready = bool(body.get("ready")) and code == 200
    if args.json:
        _print_json({**body, "ready": ready})
    elif ready:
        print(f"ready — API {body['api_url']}, broker {body['broker']['bootstrap']}")
        _print_intake(body.get("intake") or {})
        for name, n in body.get("stored", {}).items():
            print(f"  {name:<32} {n:>9}")
        _print_outbound(body.get("outbound") or [])
    elif body.get("degraded"):
        print("degraded: " + "; ".join(body["degraded"]))
        _print_intake(body.get("intake") or {})
    else:
        print(f"not ready: {body.get('error') or body}")
    return 0 if ready else 1


def _print_outbound(targets: list[dict[str, Any]]) -> None:
    from credit.cli.outbound import target_lines

    if targets:
        print("  outbound targets (credit targets list):")
        for line in target_lines(targets):
            print(line)


def _print_intake(intake: dict[str, Any]) -> None:
    if not intake:
        return
    oldest = intake.get("oldest_undecided")
    print(f"  intake: {intake.get('bytes_held', 0):,} bytes held, "
          f"{intake.get('undecided_uploads', 0)} uploads undecided"
          + (f" (oldest {oldest}, {intake.get('oldest_undecided_age_s')} s)" if oldest else "")
          + (f", {intake['held_uploads']} HELD (credit upload release|withdraw)"
             if intake.get("held_uploads") else "")
          + (f", {intake['lost_rows']} rows LOST" if intake.get("lost_rows") else ""))  # fmt: skip


def cmd_upload(args: argparse.Namespace) -> int:
    """`credit upload release|withdraw ID`: decide an upload held by the dirty-data threshold."""
    from credit.client import connect

    code, body = connect(_settings(args)).post(f"/api/uploads/{args.upload_id}/{args.action}", {})
    if code != 200:
        print(f"error: {body.get('message', body)}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(body)
    else:
        verb = "released: its rows are being stored" if args.action == "release" else "withdrawn"
        print(f"upload {args.upload_id} {verb} (received {body['received']}, "
              f"withdrawn {body['withdrawn']}, pending {body['pending']})")  # fmt: skip
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.faust.runner import run_worker

    return run_worker(_settings(args))


def cmd_analyst(args: argparse.Namespace) -> int:
    from credit.analyst_server import run_analyst

    return run_analyst(_settings(args))


def cmd_analyst_ddl(args: argparse.Namespace) -> int:
    from schemas.catalog import default_catalog
    from sinks.read.analyst_export import pseudonym_key
    from sinks.read.analyst_views import view_statements

    settings = _settings(args)
    key = pseudonym_key(settings.analyst_dir / "pseudonym.key")
    for statement in view_statements(default_catalog(), settings.clickhouse_database, key):
        print(statement + ("" if statement.startswith("--") else ";"))
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from credit.cli.poll import format_result, run_poller

    def emit(result: dict[str, Any]) -> None:
        line = json.dumps(result, ensure_ascii=False, default=str) if args.json else None
        print(line or format_result(result), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return run_poller(Path(args.config), _settings(args), emit, args.once, args.interval, stop)


def cmd_ddl(args: argparse.Namespace) -> int:
    from schemas.catalog import default_catalog
    from sinks.ddl.cluster import cluster_statements, render
    from sinks.ddl.tables import all_statements

    catalog, db = default_catalog(), _settings(args).clickhouse_database
    if args.cluster:
        statements = cluster_statements(catalog, db, args.cluster)
    else:
        statements = all_statements(catalog, db)
    if args.output:
        Path(args.output).write_text(render(statements), encoding="utf-8")
        print(f"wrote {len(statements)} statements to {args.output}", file=sys.stderr)
    else:
        print(render(statements), end="")
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from schemas.avro import write_avsc
    from schemas.catalog import default_catalog

    catalog = default_catalog()
    if args.write_avsc:
        paths = write_avsc(catalog)
        print(f"wrote {len(paths)} schemas to schemas/avro/")
        return 0
    rows = [c.model_dump(mode="json") | {"topic": c.topic, "table": c.table} for c in catalog]
    if args.json:
        _print_json(
            {
                "classes": rows,
                "departments": [d.model_dump(mode="json") for d in catalog.departments],
            }
        )
        return 0
    print(f"{'code':<34} {'name':<24} {'kind':<8} {'cycle':<10} {'disclosure':<11} neg fields")
    for c in catalog:
        print(f"{c.code:<34} {c.name:<20} {c.subject_kind:<8} {c.cycle.kind:<10} "
              f"{c.disclosure:<11} {'Y' if c.negative else '-':<3} {len(c.fields)}")  # fmt: skip
    print(f"{len(catalog)} classes, {len(catalog.departments)} department entries")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from credit.client import connect

    client = connect(_settings(args))
    if args.what in ("subject", "stats", "census", "monthly", "sql", "blacklist-new"):
        from credit.cli.report_views import run_query

        return run_query(client, args)
    if args.what == "upload":
        code, body = client.get(f"/api/uploads/{args.target}")
        if code == 404:  # not found: exit 1 with the message, never a row of zeros
            print(f"error: {body.get('message') or f'no upload {args.target!r}'}", file=sys.stderr)
            return 1
        body = (
            {
                k: body.get(k)
                for k in (
                    "upload_id",
                    "received",
                    "stored",
                    "rejected",
                    "pending",
                    "lost",
                    "held",
                    "withdrawn",
                )
            }
            if code == 200
            else body
        )
    elif args.what == "summary":
        code, body = client.get("/api/summary")
    else:
        code, body = client.get("/api/risk", district=args.district, limit=args.limit)
    if args.json or args.what != "summary":
        _print_json(body)
    else:
        from credit.demo import format_summary
        from schemas.catalog import default_catalog

        print(format_summary(body["classes"], body["at_risk"], default_catalog()))
    return 0 if code == 200 else 1


def _publisher(settings: Settings, provider: str, channel: str) -> Any:
    from credit.client import runtime_info
    from producers.publisher import Publisher

    info = runtime_info(settings)
    if "bootstrap" not in info:
        raise CreditError("publishing needs the data dir of a running `credit up` (broker address)")
    return Publisher(
        settings.kafka_config(info["bootstrap"]),
        info["registry_url"],
        provider,
        channel,
        batch_records=settings.publish_batch_records,
    )


def cmd_publish(args: argparse.Namespace) -> int:
    from producers.apikeys import ApiKeyStore
    from producers.channel import ReportedAs
    from producers.durable_intake import DurableIntake
    from producers.upload import check_department, check_district, publish_file, write_report
    from schemas.catalog import default_catalog
    from schemas.periods import Period

    settings = _settings(args)
    catalog = default_catalog()
    cls = catalog.get(args.cls)
    registered = ApiKeyStore(settings.data_dir / "api-keys.json").department_of(args.provider)
    department = check_department(cls, catalog, args.provider, args.department or registered)
    reported = ReportedAs(department, check_district(catalog, department, args.district or ""),
                          Period.parse(args.period) if args.period else None)  # fmt: skip
    publisher = _publisher(settings, args.provider, "file")

    intake = DurableIntake(settings.intake_dir)
    threshold = settings.dirty_threshold_for(cls.code, args.provider)
    result, ignored, upload = publish_file(Path(args.path), cls, catalog, publisher,
                                           not args.json, intake=intake, hold_above=threshold,
                                           reported=reported)  # fmt: skip
    out = result.as_dict() | {"ignored_columns": ignored}
    if (args.wait or args.error_report) and not result.held:  # a held upload waits for people
        out["fate"] = _wait_for_stream(settings, result)
        out["errors"] = result.errors
    if args.error_report:
        write_report(upload, result, Path(args.error_report))
    if args.json:
        _print_json(out)
    else:
        print(f"upload {result.upload_id}: received {result.received}, sent {result.sent}, "
              f"rejected {result.rejected}")  # fmt: skip
        for err in result.errors[:20]:
            print(f"  row {err['row']}: {err['field'] or '-'}: {err['reason']} — {err['message']}")
        if len(result.errors) > 20:
            print(f"  … {len(result.errors) - 20} more (use --json or --error-report)")
        if ignored:
            print(f"  ignored columns (not in the class): {ignored}")
        if result.held:
            print(f"HELD — nothing was stored: {result.held}")
            print(f"  release or withdraw it: credit upload release|withdraw {result.upload_id}")
        print(f"follow it with: credit query upload {result.upload_id}")
    return 0


def _wait_for_stream(settings: Settings, result: Any, timeout: float = 300.0) -> dict[str, Any]:
    """Wait until the stream has decided every row; add its rejections to the result."""
    import time

    from credit.client import connect
    from producers.upload import merge_stream_rejections

    client = connect(settings)
    deadline = time.monotonic() + timeout
    while True:
        code, fate = client.get(f"/api/uploads/{result.upload_id}")
        if code == 200 and fate["complete"]:
            break
        if time.monotonic() > deadline:
            raise CreditError(f"upload {result.upload_id} not fully processed after {timeout:.0f}s")
        time.sleep(0.5)
    _, body = client.get(f"/api/uploads/{result.upload_id}/rejected")
    merge_stream_rejections(result, body["rejected"])
    return {k: fate[k] for k in ("received", "stored", "rejected", "pending")}


def cmd_replay(args: argparse.Namespace) -> int:
    from credit.client import connect
    from producers.replay import fixed_file_rows, replay, stored_payload_rows
    from schemas.catalog import default_catalog

    settings = _settings(args)
    client = connect(settings)
    code, fate = client.get(f"/api/uploads/{args.upload_id}")
    if code != 200 or not fate.get("class_code"):
        raise CreditError(f"no upload '{args.upload_id}' is known to the platform")
    catalog = default_catalog()
    cls = catalog.get(fate["class_code"])
    _, body = client.get(f"/api/uploads/{args.upload_id}/rejected")
    still = {r["row"] for r in body["rejected"]}  # rows a later version has not replaced
    rows: Iterator[tuple[int | None, Mapping[str, Any]]]
    if args.source:  # the corrected report: only its rows that are still rejected
        rows = (r for r in fixed_file_rows(Path(args.source), cls) if r[0] in still)
    else:
        rows = stored_payload_rows(body["rejected"])
    publisher = _publisher(settings, fate["provider"], "replay")
    result = replay(publisher, cls, catalog, args.upload_id, rows)
    out = {"upload_id": args.upload_id, "replayed": result.received, "sent": result.sent,
           "rejected_again": result.rejected, "errors": result.errors}  # fmt: skip
    if args.json:
        _print_json(out)
    else:
        print(f"replayed {result.received} rows of {args.upload_id}: {result.sent} sent, "
              f"{result.rejected} still rejected; follow with `credit query upload {args.upload_id}`")  # fmt: skip
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from producers.template import write_template
    from schemas.catalog import default_catalog

    catalog = default_catalog()
    cls = catalog.get(args.cls)
    write_template(cls, catalog, Path(args.output))
    print(f"wrote the template of {cls.name} ({cls.code}) to {args.output}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from producers.apikeys import ApiKeyStore
    from schemas.catalog import default_catalog

    settings = _settings(args)
    store = ApiKeyStore(settings.data_dir / "api-keys.json")
    if args.list:
        return _keys_listing(store.listing(), args.json)
    if not args.provider:
        raise CreditError("`credit keys PROVIDER --department DEPT` (or --rotate, --revoke, "
                          "or `credit keys --list`)")  # fmt: skip
    if args.revoke:
        revoked = store.revoke(args.provider)
        _print_json(revoked) if args.json else print(f"revoked the API key of {args.provider}")
        return 0
    if args.rotate:
        key = store.rotate(args.provider)
    elif not args.department:
        raise CreditError("`credit keys PROVIDER --department DEPT` (or --rotate)")
    else:
        key = store.issue(default_catalog(), args.provider, args.department, args.cls or None,
                          args.district or "")  # fmt: skip
    grant = store.check(key)
    assert grant is not None
    if args.json:
        _print_json({"provider": args.provider, "key": key, "classes": sorted(grant.classes)})
    else:
        print(f"API key for {args.provider} (shown once, stored hashed): {key}")
        print(f"may publish: {', '.join(sorted(grant.classes))}")
    return 0


def _keys_listing(keys: list[dict[str, Any]], as_json: bool) -> int:
    if as_json:
        _print_json({"keys": keys})
    for k in [] if as_json else keys:
        print(f"{k['state']:<8} {k['provider']}  {k['department']}  {k['district'] or ''}  "
              f"{len(k['classes'] or [])} classes")  # fmt: skip
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from credit.bench.run import run_bench

    if args.scale:
        return _bench_scale(args.scale, args.json)
    run_bench(_settings(args), args.records, args.latency_rate, args.subjects, args.json,
              latency_seconds=args.latency_seconds)  # fmt: skip
    return 0


def _bench_scale(records: int, as_json: bool) -> int:
    from credit.bench.run import progress
    from credit.bench.scale import format_scale, run_scale

    result = run_scale(records, progress(as_json))
    print(json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_scale(result))
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    from credit.api.access import AccessStore

    settings = _settings(args)
    users = AccessStore(settings.data_dir / "access.json")
    if args.action == "list":
        tokens = users.listing()
        if args.json:
            _print_json({"tokens": tokens})
        for t in [] if args.json else tokens:
            print(f"{t['token_id']}  {t['state']:<8} {t['role']:<8} {t['name']}  {t['org'] or ''}"
                  f"  expires {t['expires_at'] or 'never'}")  # fmt: skip
        return 0
    if args.action == "revoke":
        if not args.role:
            raise CreditError("`credit access revoke TOKEN_ID` (ids: `credit access list`)")
        revoked = users.revoke(args.role)
        _print_json(revoked) if args.json else print(f"revoked {revoked['token_id']} "
                                                     f"({revoked['role']} {revoked['name']})")  # fmt: skip
        return 0
    if not (args.role and args.name):
        raise CreditError("`credit access issue ROLE NAME` (roles: provider, analyst, bank, "
                          "admin, subject)")  # fmt: skip
    org = args.institution or args.department or args.subject or ""
    hours = args.hours or settings.token_hours
    token = users.issue(args.role, args.name, org, hours=hours)
    entry = next(t for t in users.listing() if (t["role"], t["name"]) == (args.role, args.name))
    if args.json:
        _print_json({"role": args.role, "name": args.name, "org": org, "token": token,
                     "token_id": entry["token_id"], "expires_at": entry["expires_at"]})  # fmt: skip
    else:
        print(f"{args.role} token for {args.name} (shown once, stored hashed): {token}")
        print(f"id {entry['token_id']}, expires {entry['expires_at']}")
    return 0


def cmd_objection(args: argparse.Namespace) -> int:
    from credit.client import connect

    settings = _settings(args)
    client = connect(settings)  # sends CREDIT_API_TOKEN or the data dir's admin token
    if args.token:
        client.use_token(args.token)
    oid = args.objection_id
    if args.action in ("accept", "resolve", "inform") and not oid:
        raise CreditError(f"`credit objection {args.action}` needs the objection id")
    if args.action == "file":
        body = {"class_code": args.cls, "record_key": args.record_key, "grounds": args.grounds}
        code, out = client.post("/api/objections", body)
    elif args.action == "list":
        code, out = client.get("/api/objections", stage=args.stage, provider=args.provider)
    elif args.action == "overdue":
        code, out = client.get("/api/objections/overdue", as_of=args.as_of)
    else:
        body = {"resolution": args.resolution, "reason": args.reason}
        code, out = client.post(f"/api/objections/{oid}/{args.action}", body)
    _print_json(out)
    return 0 if code < 300 else 1
