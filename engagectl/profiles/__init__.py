"""Reading profiles the way the Profile API answers: traits, external ids, events, metadata, links."""

from engagectl.profiles.reader import ProfileNotFound, ProfileReader

__all__ = ["ProfileNotFound", "ProfileReader"]
