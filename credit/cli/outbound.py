"""`credit targets`: the systems stored records flow out to (省平台, 互联网+监管, 大数据交换 …);
and `credit spotcheck`, the office's checks of what a department sent (both are the credit
office's dealings with other systems and departments over the API).

    credit targets add province --url https://…/exchange --format province --returns-as 省平台（回流）
    credit targets add dsj --dir /srv/exchange/out --classes ent_admin_penalty,ent_admin_licence
    credit targets add jyrcb --url https://bank/credit-feed --public-only --districts 320281 \
        --industries 制造业                  # a bank's bulk push by region and industry
    credit targets list            # each target's ledger: sent, acknowledged, failing, lag
    credit targets ledger province [--state failed]
    credit targets remove province

Calls the running platform's API as the data dir's admin (or `--token`); exits 1 when the API
refuses, with its reason."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from base.settings import Settings
from credit.cli.governance import Add, client_for, done
from schemas.errors import CreditError


def cmd_targets(args: argparse.Namespace, settings: Settings) -> int:
    client = client_for(settings, args.token)
    if args.action in ("add", "remove", "ledger") and not args.name:
        raise CreditError(f"`credit targets {args.action} NAME …`")
    if args.action == "add":
        if bool(args.url) == bool(args.dir):
            raise CreditError("give the target's --url (HTTP endpoint) or --dir (file drop)")
        body = {"name": args.name, "kind": "http" if args.url else "directory",
                "address": args.url or args.dir, "format": args.format,
                "classes": args.classes or "", "returns_as": args.returns_as or "",
                "districts": args.districts or "", "industries": args.industries or "",
                "public_only": args.public_only}  # fmt: skip
        return done(*client.post("/api/outbound/targets", body))
    if args.action == "remove":
        return done(*client.post(f"/api/outbound/targets/{args.name}/remove", {}))
    if args.action == "ledger":
        return done(*client.get("/api/outbound/ledger", target=args.name, state=args.state))
    code, body = client.get("/api/outbound")
    if args.json or code >= 300:
        return done(code, body)
    for line in target_lines(body.get("targets") or []):
        print(line)
    return 0


def target_lines(targets: list[dict[str, Any]]) -> list[str]:
    """One line per target for `credit targets list` and `credit status`."""
    out = []
    for t in targets:
        share = t.get("share_ratio")
        oldest = f" (oldest {t['oldest_unacked']})" if t.get("oldest_unacked") else ""
        out.append(
            f"  → {t['name']:<16} {t['kind']} {t['address']}: sent {t['sent']:,}, "
            f"acknowledged {t['acknowledged']:,}, failing {t['failing']:,}, "
            f"lag {t['lag']:,}{oldest}, held {t['held']:,}; reached "
            f"{t['records_acked']:,} of {t['records_due']:,} records"
            + (f" ({share:.1%})" if share is not None else "")
        )
    return out


def add_commands(add: Add, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """Register `targets` (`add` as in `credit.cli.parser`)."""
    p = add("targets", lambda args: cmd_targets(args, settings_of(args)),
            "outbound targets (省平台 push, exchange folders): add, list with their ledger, "
            "ledger, remove")  # fmt: skip
    p.add_argument("action", choices=["add", "list", "ledger", "remove"])
    p.add_argument("name", nargs="?", help="the target's name (names its topic credit.out.NAME)")
    p.add_argument("--url", help="add: the HTTP endpoint deliveries are POSTed to")
    p.add_argument("--dir", help="add: the exchange directory files are dropped into")
    p.add_argument("--format", choices=["platform", "province"], default="platform",
                   help="add: the platform's field names, or the provincial layout (中文标签)")  # fmt: skip
    p.add_argument("--classes", help="add: class codes, comma-separated (default: every class)")
    p.add_argument("--returns-as", help="add: the provider name of the target's 回流 feed "
                   "(its records are never sent back to it)")  # fmt: skip
    p.add_argument("--districts", help="add: only subjects of these district codes (prefixes, "
                   "comma-separated: 3202 is the city) — a bulk push by region")  # fmt: skip
    p.add_argument("--industries", help="add: only companies of these industries (国民经济行业分类 "
                   "names or codes, comma-separated) — a bulk push by industry")  # fmt: skip
    p.add_argument("--public-only", action="store_true", help="add: only the classes the catalog "
                   "discloses to the public (what an institution gets in bulk, seed 004 #6)")  # fmt: skip
    p.add_argument("--state", help="ledger: only changes in this state (queued, acked, failed)")
    p.add_argument("--token", help="API token (default: the data dir's admin-token)")


def cmd_spotcheck(args: argparse.Namespace, settings: Settings) -> int:
    """`credit spotcheck new|list|show|judge|close` (抽查: 虚报、误报、漏报)."""
    if args.action == "new" and not (args.department and args.class_code):
        raise CreditError("`credit spotcheck new --department D --class C [--size N]`")
    if args.action not in ("new", "list") and not args.check:
        raise CreditError(f"`credit spotcheck {args.action} CHECK_ID …`")
    client = client_for(settings, args.token)
    if args.action == "new":
        return done(*client.post("/api/spotchecks", {"department": args.department,
                                                     "class_code": args.class_code,
                                                     "size": args.size}))  # fmt: skip
    if args.action == "list":
        return done(*client.get("/api/spotchecks", department=args.department))
    path = f"/api/spotchecks/{args.check}"
    if args.action == "show":
        return done(*client.get(path))
    if args.action == "judge":
        body = {"record_key": args.record_key, "verdict": args.verdict, "note": args.note or ""}
        return done(*client.post(path + "/judge", body))
    return done(
        *client.post(path + "/close", {"omissions": args.omissions, "note": args.note or ""})
    )


def add_spotcheck_command(add: Add, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    p = add("spotcheck", lambda args: cmd_spotcheck(args, settings_of(args)),
            "spot checks of a department's records (抽查: 虚报、误报、漏报)", json_=False)  # fmt: skip
    p.add_argument("action", choices=["new", "list", "show", "judge", "close"])
    p.add_argument("check", nargs="?", help="show, judge, close: the check id")
    p.add_argument("--department", help="new, list: the catalog department")
    p.add_argument("--class", dest="class_code", help="new: the class code")
    p.add_argument("--size", type=int, default=20, help="new: records to sample (≤ 500)")
    p.add_argument("--record-key", help="judge: the sampled record")
    p.add_argument("--verdict", choices=["准确", "误报", "虚报"], help="judge")
    p.add_argument("--note", help="judge: what the source says (误报/虚报); close: the findings")
    p.add_argument("--omissions", type=int, default=0, help="close: records the source has "
                   "that the platform lacks (漏报)")  # fmt: skip
    p.add_argument("--token", help="API token (default: the data dir's admin-token)")
