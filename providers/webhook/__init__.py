"""`webhook`: JSON batches to any URL, signed as Standard Webhooks specify."""

from providers.webhook.provider import WebhookProvider as PROVIDER

__all__ = ["PROVIDER"]
