"""Signed webhook delivery of fleetwatch alerts (Standard Webhooks); see docs/webhooks.md."""

from detectors.delivery.dispatcher import WebhookDispatcher

__all__ = ["WebhookDispatcher"]
