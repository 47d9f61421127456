"""Errors that leave the base package: the embedded broker and the topics."""

from __future__ import annotations

from schemas.errors import CreditError


class BrokerError(CreditError):
    """The embedded broker could not be started or stopped."""


class TopicError(CreditError):
    """Topics could not be created on the broker."""
