"""The root of every error this platform raises on purpose, so callers can catch ours alone."""

from __future__ import annotations


class CreditError(Exception):
    """Base class; the message is meant for the person who has to fix the cause."""
