"""`credit poll`: the database poller (`producers.poller`) wired to the running platform.

Kept out of `producers/` because it is composition: it reads the settings, finds the running
platform's broker and registry, and loops with the CLI's output.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from base.settings import Settings
from credit.client import runtime_info
from producers.durable_intake import DurableIntake
from producers.exceptions import (
    PollError,
    PublishError,
    SourceUnavailableError,
    WatermarkStateError,
)
from producers.poller import CHANNEL, DbSource, Poller, load_config
from producers.publisher import Publisher

log = logging.getLogger("credit.poller")


def connect_publisher(settings: Settings, provider: str) -> Publisher:
    """A publisher on the running platform (or the real Kafka and registry in the settings)."""

    bootstrap, registry = settings.kafka_bootstrap, settings.schema_registry_url
    if not (bootstrap and registry):
        info = runtime_info(settings)
        bootstrap = bootstrap or info.get("bootstrap")
        registry = registry or info.get("registry_url")
    if not (bootstrap and registry):
        raise PollError(
            "polling needs the broker and the schema registry: run it with the --data-dir of a "
            "running `credit up`, or set CREDIT_KAFKA_BOOTSTRAP and CREDIT_SCHEMA_REGISTRY_URL"
        )
    return Publisher(settings.kafka_config(bootstrap), registry, provider, CHANNEL,
                     batch_records=settings.publish_batch_records)  # fmt: skip


def format_result(result: dict[str, Any]) -> str:
    wm = f"watermark {result['watermark_before']} → {result['watermark_after']}"
    if result["upload_id"] is None:
        return f"{result['class_code']}: no new rows ({wm})"
    return (f"upload {result['upload_id']} ({result['class_code']}): received "
            f"{result['received']}, sent {result['sent']}, rejected {result['rejected']}; {wm}")  # fmt: skip


def run_poller(
    config_path: Path,
    settings: Settings,
    emit: Callable[[dict[str, Any]], None],
    once: bool = False,
    interval: float = 60.0,
    stop: threading.Event | None = None,
) -> int:
    """`credit poll`: one run, or a run every `interval` seconds until `stop` is set.

    In the loop a database or broker that does not answer is logged and retried next time
    (nothing was committed); a wrong config, table or column stops the poller.
    """
    from schemas.catalog import default_catalog

    catalog = default_catalog()
    job = load_config(config_path, catalog)
    source = DbSource(job)
    poller = Poller(job, catalog, connect_publisher(settings, job.config.provider),
                    settings.data_dir / "poll", source, DurableIntake(settings.intake_dir),
                    settings.dirty_threshold_for(job.cls.code, job.config.provider))  # fmt: skip
    stop = stop or threading.Event()
    try:
        while True:
            try:
                emit(poller.poll_once().as_dict())
            except (SourceUnavailableError, PublishError, WatermarkStateError) as exc:
                if once:
                    raise
                log.warning("poll run failed, retrying in %.0f s: %s", interval, exc)
            if once or stop.wait(interval):
                return 0
    except KeyboardInterrupt:
        return 130
    finally:
        poller.close()
