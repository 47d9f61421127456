"""`credit worker`: run the Faust app until SIGTERM/SIGINT (Faust finishes the batch first)."""

from __future__ import annotations

import logging

import faust

from credit.errors import CreditError
from credit.metrics import create_metrics
from credit.settings import Settings
from schemas.catalog import default_catalog
from streams.worker import build_app


class WorkerConfigError(CreditError):
    """The worker lacks the broker or registry address."""


def run_worker(settings: Settings) -> int:
    if not settings.kafka_bootstrap or not settings.schema_registry_url:
        raise WorkerConfigError(
            "the worker needs CREDIT_KAFKA_BOOTSTRAP and CREDIT_SCHEMA_REGISTRY_URL "
            "(`credit up` sets both for its own worker)"
        )
    app = build_app(settings, settings.kafka_bootstrap, settings.schema_registry_url,
                    default_catalog(), create_metrics())  # fmt: skip
    worker = faust.Worker(app, loglevel=logging.INFO, quiet=True)
    worker.execute_from_commandline()
    return 0
