"""CLI commands for using what was collected: the public notice of red and black lists
(`credit lists`), the joint sanctions look-up (`credit sanctions`), verification (`credit
verify`) and borrower monitoring (`credit watch`, `credit alerts`). Each calls
the running platform's API (as the data dir's admin, or `--token`) and exits 1 when the API
refuses, with its reason."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from base.settings import Settings
from credit.cli.governance import Add, client_for, done
from credit.client import connect


def cmd_lists(args: argparse.Namespace, settings: Settings) -> int:
    return done(*connect(settings).get("/api/public/lists", kind=args.kind, q=args.name,
                                        limit=args.limit, offset=args.offset))  # fmt: skip


def cmd_sanctions(args: argparse.Namespace, settings: Settings) -> int:
    client = client_for(settings, args.token)
    return done(*client.get(f"/api/sanctions/{args.code}", purpose=args.purpose))


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    client = client_for(settings, args.token)
    return done(*client.get(f"/api/verify/{args.code}", question=args.question,
                             amount=args.amount, months=args.months, purpose=args.purpose))  # fmt: skip


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    client = client_for(settings, args.token)
    if args.action == "add":
        body = {"subject": args.target, "webhook": args.webhook or "",
                "institution": args.institution or "", "purpose": args.purpose or ""}  # fmt: skip
        return done(*client.post("/api/watchlist", body))
    if args.action == "remove":
        return done(*client.post(f"/api/watchlist/{args.target}/remove", {}))
    return done(*client.get("/api/watchlist", institution=args.institution))


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    client = client_for(settings, args.token)
    return done(*client.get("/api/alerts", since=args.since, institution=args.institution))


def add_commands(add: Add, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """Register `lists`, `sanctions` and `verify` (`add` as in `credit.cli.parser`)."""

    def run(fn: Callable[[argparse.Namespace, Settings], int]) -> Callable[..., int]:
        return lambda args: fn(args, settings_of(args))

    lists = add("lists", run(cmd_lists), "the red and black lists' public notice (红黑名单公示)",
                json_=False)  # fmt: skip
    lists.add_argument("--kind", choices=["red", "black"])
    lists.add_argument("--name", help="entries whose name contains this")
    lists.add_argument("--limit", type=int, default=100)
    lists.add_argument("--offset", type=int, default=0)
    sanctions = add("sanctions", run(cmd_sanctions), "a subject's list entries and the joint "
                    "rewards and sanctions that apply (联合奖惩)", json_=False)  # fmt: skip
    sanctions.add_argument("code", help="the subject's USCC or ID number")
    sanctions.add_argument("--purpose", required=True, help="why (written to the usage log)")
    sanctions.add_argument("--token", help="API token (default: the data dir's admin-token)")
    verify = add("verify", run(cmd_verify), "a yes/no or banded answer about a subject, never "
                 "its records (数据核验)", json_=False)  # fmt: skip
    verify.add_argument("code", help="the subject's USCC or ID number")
    verify.add_argument("--question", required=True, choices=["in_arrears", "arrears_above",
                        "arrears_band", "on_black_list", "on_red_list"])  # fmt: skip
    verify.add_argument("--amount", help="arrears_above: the amount in yuan")
    verify.add_argument("--months", help="arrears_above: how many months back (12)")
    verify.add_argument("--purpose", required=True, help="why (written to the usage log)")
    verify.add_argument("--token", help="API token (default: the data dir's admin-token)")
    watch = add("watch", run(cmd_watch), "borrower monitoring (贷后监测): watch an authorized "
                "borrower, list or remove watches", json_=False)  # fmt: skip
    watch.add_argument("action", choices=["add", "list", "remove"])
    watch.add_argument("target", nargs="?", help="add: the subject's USCC; remove: the watch id")
    watch.add_argument("--webhook", help="add: where alerts are POSTed (http/https)")
    watch.add_argument("--institution", help="the watching institution (admins; banks: their own)")
    watch.add_argument("--purpose", help="add: why (written to the usage log; default 贷后监测)")
    watch.add_argument("--token", help="API token (default: the data dir's admin-token)")
    alerts = add("alerts", run(cmd_alerts), "watchlist alerts, newest first", json_=False)
    alerts.add_argument("--since", help="ISO date-time: only alerts after it")
    alerts.add_argument("--institution", help="one institution's (admins)")
    alerts.add_argument("--token", help="API token (default: the data dir's admin-token)")
