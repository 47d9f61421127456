"""Every route of the platform's HTTP API on one app (what `credit up` and `credit gateway`
serve), besides the ingestion and read routes `build_api` adds."""

from __future__ import annotations

from aiohttp import web

from credit.api.admin import Accounts, add_admin_routes
from credit.api.app import ApiContext
from credit.api.files import add_file_routes
from credit.api.governance import (
    add_governance_routes,
    governed_records,
    governed_subject_report,
)
from credit.api.lists import add_list_routes
from credit.api.outbound import add_outbound_routes
from credit.api.provider import add_provider_routes
from credit.api.repairs import add_repair_routes
from credit.api.reports import add_report_routes
from credit.api.spot_checks import add_spot_check_routes
from credit.api.sql import add_sql_route
from credit.api.verify import add_verify_route
from credit.api.watch import add_watch_routes
from credit.console.routes import add_console_routes
from producers.gateway import Gateway


def add_platform_routes(app: web.Application, ctx: ApiContext, gateway: Gateway,
                        accounts: Accounts) -> None:  # fmt: skip
    # purpose check, bank authorization, withheld records, masking and the usage log
    app.router.add_get("/api/records/{class_code}", governed_records(ctx))
    add_governance_routes(app, ctx)
    add_repair_routes(app, ctx)
    add_report_routes(app, ctx, subject_handler=governed_subject_report(ctx))
    add_sql_route(app, ctx)
    add_file_routes(app, ctx, gateway)
    add_provider_routes(app, ctx)
    add_list_routes(app, ctx)
    add_verify_route(app, ctx)
    add_watch_routes(app, ctx)
    add_outbound_routes(app, ctx)
    add_spot_check_routes(app, ctx)
    add_admin_routes(app, accounts)
    add_console_routes(app)
