"""`google_data_manager`: Customer Match lists through the Data Manager API."""

from providers.google_data_manager.provider import GoogleDataManagerProvider as PROVIDER

__all__ = ["PROVIDER"]
