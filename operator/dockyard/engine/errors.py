"""Errors from talking to an engine, phrased for the user."""

from __future__ import annotations


class EngineError(Exception):
    """An engine refused or failed an operation; the message says what and why."""


class EngineUnavailable(EngineError):
    """The engine cannot be reached at all."""
