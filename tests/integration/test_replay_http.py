"""`POST /api/uploads/{id}/replay` refuses what it must: another provider's upload, an upload
nobody knows, and a file that is not a corrected error report (no 原始行号 column)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from schemas.codes import random_uscc
from tests.integration.arrears_rows import LABELS, arrears_row

pytestmark = pytest.mark.integration


def _key(credit_cli: Callable[..., Any], platform: dict[str, Any], provider: str) -> str:
    out = credit_cli("keys", provider, "--department", "供水公司", "--json",
                     data_dir=platform["data_dir"])  # fmt: skip
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["key"])


def test_replay_refuses_strangers_unknown_uploads_and_files_without_row_numbers(
    platform: dict[str, Any], credit_cli: Callable[..., Any]
) -> None:
    owner, stranger = (_key(credit_cli, platform, p) for p in ("甲水务公司", "乙水务公司"))
    rng = random.Random(5)
    rows = [arrears_row(f"重放企业{i}", random_uscc(rng)) for i in range(3)]
    rows[0][1] = "91320000000000000X"  # wrong check character
    body = "\n".join([",".join(LABELS)] + [",".join(r) for r in rows]).encode("utf-8")
    api = platform["api_url"]
    sent = httpx.post(f"{api}/api/files/legal_arrears", params={"filename": "a.csv"},
                      content=body, headers={"Authorization": f"Bearer {owner}"}, timeout=60)  # fmt: skip
    assert sent.status_code in (200, 207), sent.text
    upload = sent.json()["upload_id"]
    deadline = time.monotonic() + 90
    while not httpx.get(f"{api}/api/uploads/{upload}",
                        headers={"Authorization": f"Bearer {owner}"}).json()["complete"]:  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.3)

    def replay(key: str, upload_id: str) -> httpx.Response:
        return httpx.post(f"{api}/api/uploads/{upload_id}/replay", params={"filename": "b.csv"},
                          content=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)  # fmt: skip

    assert replay(stranger, upload).status_code == 403
    assert replay(owner, "file-nobody-sent-this").status_code == 404
    wrong = replay(owner, upload)
    assert wrong.status_code == 400 and wrong.json()["error"] == "file.header"
    assert "原始行号" in wrong.json()["message"]
