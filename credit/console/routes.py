"""`/console/…`: the console's pages and assets, public like /health (they hold no data)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
PAGES = {
    "/console/": "index.html",
    "/console/provider": "provider.html",  # a provider: upload, fate, error report, calendar
    "/console/office": "office.html",  # the credit office: compliance, queues, accounts
    "/console/analyst": "analyst.html",  # analysts and banks: risk list, lookups, trends
    "/console/report": "report.html",  # a subject's credit report, printable
    "/console/lists": "lists.html",  # the public notice of red and black lists: no sign-in
}


async def _to_index(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


def add_console_routes(app: web.Application) -> None:
    """The pages (`PAGES`) and `/console/static/*` (styles and scripts)."""
    app.router.add_get("/console", _to_index)
    for path, name in PAGES.items():

        async def page(_: web.Request, name: str = name) -> web.StreamResponse:
            return _page(name)

        app.router.add_get(path, page)
    app.router.add_static("/console/static", STATIC)
