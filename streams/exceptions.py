"""Errors that leave the streams package: the worker's configuration, its tables and
changelogs, and records the figures cannot use."""

from __future__ import annotations

from schemas.errors import CreditError


class AggregateError(CreditError):
    """A record the aggregates cannot use (wrong class for the kind, unreadable field)."""


class ChangelogError(CreditError):
    """A changelog record was not written; the batch must not be acknowledged."""


class CredentialsError(CreditError):
    """The Kafka security settings cannot be turned into Faust credentials."""


class ReseedError(CreditError):
    """The worker's state could not be copied back into its changelog topics."""


class WorkerConfigError(CreditError):
    """The worker lacks the broker or registry address."""


class StateStoreError(CreditError):
    """The worker's state directory cannot be claimed."""


class ResultsNotAcknowledgedError(CreditError):
    """The broker did not acknowledge a batch's outputs in time: the batch must not be
    acknowledged either (the worker exits and re-reads it)."""
