"""`mixpanel`: profile updates, events with `$insert_id`, and an alias on merge."""

from providers.mixpanel.provider import MixpanelProvider as PROVIDER

__all__ = ["PROVIDER"]
