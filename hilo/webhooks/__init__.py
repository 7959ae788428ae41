"""Signed event webhooks (Standard Webhooks): endpoints, deliveries, the dispatcher."""

from hilo.webhooks.dispatcher import WebhookDispatcher
from hilo.webhooks.signing import headers, new_secret, sign

__all__ = ["WebhookDispatcher", "headers", "new_secret", "sign"]
