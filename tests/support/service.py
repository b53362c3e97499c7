"""Run a fleetwatch Service on a background event loop for the duration of a test."""

from __future__ import annotations

from fleetwatch.service import run_in_background as running_service

__all__ = ["running_service"]
