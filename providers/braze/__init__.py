"""`braze`: attributes and events through `/users/track`."""

from providers.braze.provider import BrazeProvider as PROVIDER

__all__ = ["PROVIDER"]
