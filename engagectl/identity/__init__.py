"""Identity resolution: the identity graph, merge protection, and profile traits.

`resolve_identities(warehouse, settings)` resolves every event ingested since the last run.
"""

from engagectl.identity.graph import IdentityGraph, profile_id_for
from engagectl.identity.resolver import IdentityReport, resolve_identities

__all__ = ["IdentityGraph", "IdentityReport", "profile_id_for", "resolve_identities"]
