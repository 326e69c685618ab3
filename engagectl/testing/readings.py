"""What the expectations read back from a test's warehouse: profiles, values and changes.

JSON columns are read as text (`CAST(... AS TEXT)`) and decoded here, so DuckDB and Postgres
give the same Python values.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlglot import exp

from engagectl.warehouse.base import quoted_column as col

_TEXT = exp.DataType.build("TEXT")


def _text(column: str) -> exp.Expression:
    return exp.cast(col(column), _TEXT)


def _decode(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


class Readings:
    """Reads over one warehouse, cached where a test asks the same thing many times."""

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse
        self._identities: list[tuple[str, str, str]] | None = None
        self._values: dict[str, dict[str, Any]] = {}

    # ---- identities -------------------------------------------------------------------------

    def identities(self) -> list[tuple[str, str, str]]:
        """(profile_id, id_type, id_value) rows."""
        if self._identities is None:
            rows = self.warehouse.fetchall(
                exp.select(col("profile_id"), col("id_type"), col("id_value"))
                .from_(self.warehouse.table("identities"))
            )
            self._identities = sorted((str(p), str(t), str(v)) for p, t, v in rows)
        return self._identities

    def profile_ids(self) -> list[str]:
        """Every profile: those with identifiers, and any the `profiles` table holds without one."""
        ids = {p for p, _, _ in self.identities()}
        rows = self.warehouse.fetchall(exp.select(col("profile_id")).from_(self.warehouse.table("profiles")))
        ids.update(str(r[0]) for r in rows)
        return sorted(ids)

    def external_ids(self) -> dict[str, dict[str, list[str]]]:
        """profile_id → {id_type: [values, sorted]}."""
        profiles: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for profile_id, id_type, id_value in self.identities():
            profiles[profile_id][id_type].append(id_value)
        return {p: {t: sorted(v) for t, v in sorted(ids.items())} for p, ids in profiles.items()}

    def profile_of(self, id_type: str, id_value: str) -> str | None:
        """The profile holding an identifier, or None when no profile does."""
        for profile_id, t, v in self.identities():
            if t == id_type and v == id_value:
                return profile_id
        return None

    # ---- computed values --------------------------------------------------------------------

    def computed_values(self, key: str) -> dict[str, Any]:
        """profile_id → decoded value, for one computation key."""
        if key not in self._values:
            rows = self.warehouse.fetchall(
                exp.select(col("profile_id"), _text("value").as_("value"))
                .from_(self.warehouse.table("computed_values"))
                .where(col("computation_key").eq(exp.Literal.string(key)))
            )
            self._values[key] = {str(p): _decode(v) for p, v in rows}
        return self._values[key]

    def members(self, key: str) -> set[str]:
        """Profiles whose value for an audience or journey-step key is true."""
        return {p for p, v in self.computed_values(key).items() if v is True}

    def identify_trait(self, profile_id: str, key: str) -> tuple[bool, Any]:
        """(found, value) of an identify trait on a profile."""
        rows = self.warehouse.fetchall(
            exp.select(_text("value").as_("value"))
            .from_(self.warehouse.table("profile_traits"))
            .where(col("profile_id").eq(exp.Literal.string(profile_id)))
            .where(col("key").eq(exp.Literal.string(key)))
        )
        if not rows:
            return False, None
        return True, _decode(rows[0][0])

    def identify_traits(self, profile_id: str) -> dict[str, Any]:
        rows = self.warehouse.fetchall(
            exp.select(col("key"), _text("value").as_("value"))
            .from_(self.warehouse.table("profile_traits"))
            .where(col("profile_id").eq(exp.Literal.string(profile_id)))
        )
        return {str(k): _decode(v) for k, v in sorted(rows)}

    def all_computed_values(self, profile_id: str) -> dict[str, Any]:
        rows = self.warehouse.fetchall(
            exp.select(col("computation_key"), _text("value").as_("value"))
            .from_(self.warehouse.table("computed_values"))
            .where(col("profile_id").eq(exp.Literal.string(profile_id)))
        )
        return {str(k): _decode(v) for k, v in sorted(rows)}

    # ---- the change log ---------------------------------------------------------------------

    def changes(self, run_id: str | None, change: str) -> dict[str, set[str]]:
        """computation_key → profiles with that change (`entered`/`exited`) in one run.

        Without a run id (a compute that does not report one), the latest run's changes are read.
        """
        query = (
            exp.select(col("computation_key"), col("profile_id"))
            .from_(self.warehouse.table("changes"))
            .where(col("change").eq(exp.Literal.string(change)))
        )
        if run_id is not None:
            query = query.where(col("run_id").eq(exp.Literal.string(run_id)))
        else:
            latest = exp.select(exp.func("max", col("as_of"))).from_(self.warehouse.table("changes"))
            query = query.where(col("as_of").eq(exp.paren(latest, copy=False)))
        found: dict[str, set[str]] = defaultdict(set)
        for key, profile_id in self.warehouse.fetchall(query):
            found[str(key)].add(str(profile_id))
        return dict(found)

    def profile_summary(self, profile_id: str) -> dict[str, Any]:
        """The evidence shown with a failure: who the profile is and what it holds."""
        return {
            "profile_id": profile_id,
            "external_ids": self.external_ids().get(profile_id, {}),
            "traits": self.identify_traits(profile_id),
            "computed": self.all_computed_values(profile_id),
        }
