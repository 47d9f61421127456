"""How commands other than `up` reach a running platform: `CREDIT_API_URL` or the data dir."""

from __future__ import annotations

import json
from typing import Any

import httpx

from base.settings import Settings
from credit.exceptions import NotRunningError


def read_runtime(settings: Settings) -> dict[str, Any]:
    """What a running platform wrote about itself (empty if none)."""
    try:
        return dict(json.loads(settings.runtime_file.read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def runtime_info(settings: Settings) -> dict[str, Any]:
    if settings.api_url:
        return {"api_url": settings.api_url.rstrip("/")}
    info = read_runtime(settings)
    if not info:
        raise NotRunningError(
            f"no platform is running on data dir {settings.data_dir} "
            "(start one with `credit up`, or set CREDIT_API_URL)"
        )
    return info


class ApiClient:
    """Thin JSON client of the platform's HTTP API, sending a bearer token when it has one."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def use_token(self, token: str) -> None:
        self._http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        try:
            resp = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as exc:
            raise NotRunningError(
                f"the platform at {self.base_url} does not answer: {exc}"
            ) from exc
        return resp.status_code, resp.json()

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        try:
            resp = self._http.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise NotRunningError(
                f"the platform at {self.base_url} does not answer: {exc}"
            ) from exc
        return resp.status_code, resp.json()


def token_for(settings: Settings) -> str | None:
    """`CREDIT_API_TOKEN`, else the admin token a local `credit up` keeps in its data dir."""
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    path = settings.data_dir / "admin-token"
    return path.read_text().strip() if path.exists() else None


def connect(settings: Settings) -> ApiClient:
    return ApiClient(runtime_info(settings)["api_url"], token=token_for(settings))
