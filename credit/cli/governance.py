"""CLI commands for governance the API offers: authorizations (授权), the usage log (使用记录)
and new black-list entries. Each calls the running platform's API, as the admin of its data
dir (or `--token`), and exits 1 when the API refuses, with its reason."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from base.settings import Settings
from credit.client import connect
from schemas.errors import CreditError

Add = Callable[..., argparse.ArgumentParser]


def client_for(settings: Settings, token: str | None) -> Any:
    client = connect(settings)
    if token:
        client.use_token(token)
    return client


def done(code: int, body: Any) -> int:
    print(json.dumps(body, ensure_ascii=False, indent=2, default=str))
    return 0 if code < 300 else 1


def cmd_authorization(args: argparse.Namespace, settings: Settings) -> int:
    client = client_for(settings, args.token)
    if args.action == "grant":
        if not (args.subject and args.institution and args.purpose and args.valid_to):
            raise CreditError("`credit authorization grant --subject USCC --institution BANK "
                              "--purpose … --to YYYY-MM-DD [--from YYYY-MM-DD]`")  # fmt: skip
        body = {"subject": args.subject, "institution": args.institution,
                "purpose": args.purpose, "valid_from": args.valid_from, "valid_to": args.valid_to}  # fmt: skip
        return done(*client.post("/api/authorizations", body))
    if args.action == "revoke":
        if not args.auth_id:
            raise CreditError("`credit authorization revoke AUTH_ID`")
        return done(*client.post(f"/api/authorizations/{args.auth_id}/revoke", {}))
    return done(*client.get("/api/authorizations", subject=args.subject,
                             institution=args.institution))  # fmt: skip


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.subject) == bool(args.reader):
        raise CreditError("`credit audit --subject CODE` (who read it) or `--reader NAME` "
                          "(what they read)")  # fmt: skip
    client = client_for(settings, args.token)
    return done(*client.get("/api/audit", subject=args.subject, reader=args.reader,
                             purpose=args.purpose))  # fmt: skip


def cmd_blacklist_new(args: argparse.Namespace, settings: Settings) -> int:
    client = client_for(settings, args.token)
    return done(*client.get("/api/blacklist/new", since=args.since, limit=args.limit))


def cmd_repair(args: argparse.Namespace, settings: Settings) -> int:
    client = client_for(settings, args.token)
    if args.action == "apply":
        if not (args.cls and args.record_key and args.grounds):
            raise CreditError("`credit repair apply --class C --record-key K --grounds …`")
        body = {"class_code": args.cls, "record_key": args.record_key, "grounds": args.grounds}
        return done(*client.post("/api/repairs", body))
    if args.action == "list":
        return done(*client.get("/api/repairs", subject=args.subject, status=args.status))
    if not (args.repair_id and args.reason):
        raise CreditError(f"`credit repair {args.action} REPAIR_ID --reason …`")
    decision = "approve" if args.action == "approve" else "reject"
    return done(*client.post(f"/api/repairs/{args.repair_id}/{decision}", {"reason": args.reason}))


def add_commands(add: Add, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """Register the governance commands on the CLI's parser (`add` as in `credit.cli.commands`)."""

    def run(fn: Callable[[argparse.Namespace, Settings], int]) -> Callable[..., int]:
        return lambda args: fn(args, settings_of(args))

    auth = add("authorization", run(cmd_authorization),
               "grant, revoke and list enterprises' authorizations of banks (授权)", json_=False)  # fmt: skip
    auth.add_argument("action", choices=["grant", "revoke", "list"])
    auth.add_argument("auth_id", nargs="?", help="revoke: the authorization id")
    auth.add_argument("--subject", help="the enterprise's USCC")
    auth.add_argument("--institution", help="the financial institution")
    auth.add_argument("--purpose", help="grant: what the bank may use the data for")
    auth.add_argument("--from", dest="valid_from", help="grant: first day (default today)")
    auth.add_argument("--to", dest="valid_to", help="grant: last day (YYYY-MM-DD)")
    auth.add_argument("--token", help="API token (default: the data dir's admin-token)")
    audit = add("audit", run(cmd_audit), "the usage log: who read a subject, or what a reader "
                "read (使用记录)", json_=False)  # fmt: skip
    audit.add_argument("--subject", help="the subject's USCC / ID")
    audit.add_argument("--reader", help="a reader's name (admins)")
    audit.add_argument("--purpose", help="why you look (written to the usage log)")
    audit.add_argument("--token", help="API token (default: the data dir's admin-token)")
    rep = add("repair", run(cmd_repair), "credit repair (信用修复): apply after the minimum "
              "publication period; the credit office approves or rejects", json_=False)  # fmt: skip
    rep.add_argument("action", choices=["apply", "list", "approve", "reject"])
    rep.add_argument("repair_id", nargs="?", help="approve/reject: the application's id")
    rep.add_argument("--class", dest="cls", help="apply: the record's class code")
    rep.add_argument("--record-key", help="apply: the record's record_key")
    rep.add_argument("--grounds", help="apply: how the conduct was corrected")
    rep.add_argument("--reason", help="approve/reject: the reason kept with the decision")
    rep.add_argument("--subject", help="list: one subject's applications")
    rep.add_argument("--status", help="list: applied, approved or rejected")
    rep.add_argument("--token", help="API token (default: the data dir's admin-token)")
    black = add("blacklist-new", run(cmd_blacklist_new),
                "entries that joined a black list since a day (新增失信名单)", json_=False)  # fmt: skip
    black.add_argument("--since", help="YYYY-MM-DD (default: 30 days ago)")
    black.add_argument("--limit", type=int, default=100)
    black.add_argument("--token", help="API token (default: the data dir's admin-token)")
