"""An audience's size and a sample of its members: the shapes of `preview` (PRODUCT.md §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlglot import exp

from engagectl.compile.audience import col
from engagectl.config.models import Audience, Journey

# The identifier types a preview always shows, in this order (PRODUCT.md §5).
PREVIEW_ID_TYPES = ("user_id", "email", "anonymous_id")


@dataclass
class SampledProfile:
    profile_id: str
    external_ids: dict[str, list[str]]


@dataclass
class AudiencePreview:
    key: str
    as_of: datetime
    size: int
    sample: list[SampledProfile] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "as_of": self.as_of.isoformat().replace("+00:00", "Z"),
            "size": self.size,
            "sample": [{"profile_id": p.profile_id, "external_ids": p.external_ids} for p in self.sample],
        }


def sample_members(warehouse, key: str, as_of: datetime, members: exp.Select, limit: int = 10) -> AudiencePreview:
    """Size and a sample (with external ids) of the profiles a members query returns."""
    members = exp.alias_(exp.Subquery(this=members), "members", table=True)
    size = warehouse.fetchall(exp.select(exp.Count(this=exp.Star())).from_(members.copy()))[0][0]
    sampled = [row[0] for row in warehouse.fetchall(
        exp.select(col("profile_id")).from_(members.copy()).order_by(col("profile_id")).limit(limit))]
    external_ids: dict[str, dict[str, list[str]]] = {p: {t: [] for t in PREVIEW_ID_TYPES} for p in sampled}
    if sampled:
        rows = warehouse.fetchall(
            exp.select(col("profile_id"), col("id_type"), col("id_value")).from_(warehouse.table("identities"))
            .where(exp.and_(
                exp.In(this=col("profile_id"), expressions=[exp.Literal.string(p) for p in sampled]),
                exp.In(this=col("id_type"), expressions=[exp.Literal.string(t) for t in PREVIEW_ID_TYPES])))
            .order_by(col("profile_id"), col("id_type"), col("id_value")))
        for profile_id, id_type, id_value in rows:
            external_ids[profile_id][id_type].append(id_value)
    sample = [SampledProfile(p, external_ids[p]) for p in sampled]
    return AudiencePreview(key, as_of, int(size), sample)


def is_previewable(project, key: str) -> bool:
    """Audiences and journey steps (`journey__step`) have members to preview."""
    if isinstance(project.get("audience", key), Audience):
        return True
    journey_key, _, step_key = key.partition("__")
    journey = project.get("journey", journey_key)
    return isinstance(journey, Journey) and any(step.key == step_key for step in journey.steps)
