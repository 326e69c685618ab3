"""`facebook_custom_audiences`: members added to and removed from Meta Custom Audiences."""

from providers.facebook_custom_audiences.provider import FacebookCustomAudiencesProvider as PROVIDER

__all__ = ["PROVIDER"]
