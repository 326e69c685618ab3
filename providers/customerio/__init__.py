"""`customerio`: people and events through the Track API's v2 batch."""

from providers.customerio.provider import CustomerIoProvider as PROVIDER

__all__ = ["PROVIDER"]
