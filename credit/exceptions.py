"""Errors of the composition root: access, the running platform, the demo and the bench."""

from __future__ import annotations

from schemas.errors import CreditError


class AccessError(CreditError):
    """A token cannot be issued (unknown role, missing institution …)."""


class NotRunningError(CreditError):
    """No platform answers for this data dir / API URL."""


class DemoError(CreditError):
    """The demo could not account for every record in time."""


class LagError(CreditError):
    """Offsets could not be read from the broker (it is down or refused the request)."""


class PartitionCountError(CreditError):
    """The data dir's worker state is split into another number of partitions."""


class AlreadyRunningError(CreditError):
    """Another `credit up` owns this data dir."""


class BenchError(CreditError):
    """A benchmark phase could not finish (the platform fell over or stalled)."""
