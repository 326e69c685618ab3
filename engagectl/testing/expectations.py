"""Checking a test's `expect:` against its warehouse after the run.

Each check returns the failures it found (never raises for a failed expectation); each failure
names the expectation as it is written, says what was expected and what was found, and carries
the profile and, for memberships, the explained condition tree as evidence.
"""

from __future__ import annotations

import math
from typing import Any

from engagectl.config.models import Journey, SqlTrait
from engagectl.testing.explanation import explain_membership
from engagectl.testing.fixtures import FixtureRun
from engagectl.testing.model import Approx, ChangesExpectation, Expectations, split_identifier
from engagectl.testing.readings import Readings
from engagectl.testing.results import ExpectationFailure

DEFAULT_RELATIVE_TOLERANCE = 1e-9
# Identifier types shown first when a profile is named in a message.
_NAMING_ORDER = ("user_id", "email", "anonymous_id")


def check_expectations(run: FixtureRun, expect: Expectations) -> list[ExpectationFailure]:
    checker = _Checker(run)
    failures: list[ExpectationFailure] = []
    failures += checker.profiles(expect.profiles)
    failures += checker.profile_count(expect.profile_count)
    for section, expected in (("members", True), ("non_members", False)):
        for key, identifiers in getattr(expect, section).items():
            if key not in membership_keys(run.project):
                failures.append(_unknown_key(f"{section}.{key}", key, "an audience or journey step"))
                continue
            failures += checker.memberships(key, identifiers, expected=expected)
    for key, size in expect.sizes.items():
        if key not in computation_keys(run.project):
            failures.append(_unknown_key(f"sizes.{key}", key, "an audience, journey step or trait"))
            continue
        failures += checker.size(key, size)
    for identifier, traits in expect.traits.items():
        failures += checker.traits(identifier, traits)
    if expect.changes is not None:
        failures += checker.changes(expect.changes)
    return failures


def membership_keys(project) -> set[str]:
    """Keys whose values are memberships: audiences and journey steps (`journey__step`)."""
    keys = {r.key for r in project.of_kind("audience")}
    for journey in project.of_kind("journey"):
        assert isinstance(journey, Journey)
        keys.update(journey.step_audience_key(step) for step in journey.steps)
    return keys


def computation_keys(project) -> set[str]:
    """Every key with values in `computed_values`: memberships, computed and SQL traits."""
    return membership_keys(project) | {
        r.key for r in project.resources.values() if r.kind in ("computed_trait", "sql_trait")}


def counted_profiles(read: Readings, project, key: str) -> list[str]:
    """The profiles a key's size counts: members of an audience or step, holders of a trait value."""
    values = read.computed_values(key)
    if key in membership_keys(project):
        return sorted(p for p, v in values.items() if v is True)
    return sorted(p for p, v in values.items() if v is not None)


def computed_sizes(run: FixtureRun) -> dict[str, int]:
    """Every computation's size after the run: evidence when a run should have failed and did not."""
    read = Readings(run.warehouse)
    return {key: len(counted_profiles(read, run.project, key)) for key in sorted(computation_keys(run.project))}


def _unknown_key(expectation: str, key: str, what: str) -> ExpectationFailure:
    # A typo must not pass as "nobody is a member": say the key is not there.
    return ExpectationFailure(expectation, f"{key} is not {what} of the definitions under test")


class _Checker:
    def __init__(self, run: FixtureRun) -> None:
        self.run = run
        self.read = Readings(run.warehouse)

    # ---- naming -----------------------------------------------------------------------------

    def name(self, profile_id: str) -> str:
        """A profile as users know it: its highest-priority identifier."""
        ids = self.read.external_ids().get(profile_id, {})
        for id_type in _NAMING_ORDER + tuple(sorted(ids)):
            if ids.get(id_type):
                return f"{id_type}:{ids[id_type][0]}"
        return f"profile {profile_id}"

    def profile(self, identifier: str) -> str | None:
        return self.read.profile_of(*split_identifier(identifier))

    def unknown(self, expectation: str, identifier: str) -> ExpectationFailure:
        return ExpectationFailure(
            expectation, f"no profile has the identifier {identifier} (check the fixture events and the identifier)")

    # ---- identity ---------------------------------------------------------------------------

    def profiles(self, expected: list[dict[str, list[str]]] | None) -> list[ExpectationFailure]:
        if expected is None:
            return []
        actual = [frozenset((t, v) for t, values in ids.items() for v in values)
                  for ids in self.read.external_ids().values()]
        wanted = [frozenset((t, str(v)) for t, values in ids.items() for v in values) for ids in expected]
        missing = [w for w in wanted if w not in actual]
        unexpected = [a for a in actual if a not in wanted]
        if not missing and not unexpected and len(actual) == len(wanted):
            return []
        parts = []
        if missing:
            parts.append("expected profiles not found: " + "; ".join(_show_ids(m) for m in missing))
        if unexpected:
            parts.append("profiles found but not expected: " + "; ".join(_show_ids(u) for u in unexpected))
        if not parts:
            parts.append(f"expected {len(wanted)} profiles, found {len(actual)}")
        return [ExpectationFailure("profiles", "; ".join(parts), {
            "expected": [_ids_json(w) for w in wanted],
            "actual": sorted((_ids_json(a) for a in actual), key=_show_ids_json),
        })]

    def profile_count(self, expected: int | None) -> list[ExpectationFailure]:
        if expected is None:
            return []
        actual = len(self.read.profile_ids())
        if actual == expected:
            return []
        return [ExpectationFailure("profile_count", f"expected {expected} profiles, found {actual}", {
            "profiles": sorted((self.read.external_ids().get(p, {}) for p in self.read.profile_ids()),
                               key=lambda ids: sorted((t, v) for t, vs in ids.items() for v in vs)),
        })]

    # ---- memberships ------------------------------------------------------------------------

    def memberships(self, key: str, identifiers: list[str], expected: bool) -> list[ExpectationFailure]:
        section = "members" if expected else "non_members"
        failures = []
        members = self.read.members(key)
        for identifier in identifiers:
            expectation = f"{section}.{key}[{identifier}]"
            profile_id = self.profile(identifier)
            if profile_id is None:
                failures.append(self.unknown(expectation, identifier))
                continue
            if (profile_id in members) == expected:
                continue
            verb = "is not a member of" if expected else "is a member of"
            failures.append(ExpectationFailure(
                expectation,
                f"{identifier} {verb} {key}",
                {
                    "profile": self.read.profile_summary(profile_id),
                    "explanation": explain_membership(self.run.project, self.run.warehouse, self.run.as_of,
                                                      key, identifier),
                },
            ))
        return failures

    def size(self, key: str, expected: int) -> list[ExpectationFailure]:
        counted = counted_profiles(self.read, self.run.project, key)
        if len(counted) == expected:
            return []
        return [ExpectationFailure(f"sizes.{key}", f"expected {key} to have {expected}, found {len(counted)}",
                                   {"profiles": sorted(self.name(p) for p in counted)})]

    # ---- trait values -----------------------------------------------------------------------

    def traits(self, identifier: str, expected: dict[str, Any]) -> list[ExpectationFailure]:
        profile_id = self.profile(identifier)
        if profile_id is None:
            return [self.unknown(f"traits[{identifier}]", identifier)]
        failures = []
        for key, wanted in expected.items():
            actual = self.trait_value(profile_id, key)
            if values_match(wanted, actual):
                continue
            failures.append(ExpectationFailure(
                f"traits[{identifier}].{key}",
                f"{key} of {identifier}: expected {_show(wanted)}, found {_show(actual)}",
                {"profile": self.read.profile_summary(profile_id)},
            ))
        return failures

    def trait_value(self, profile_id: str, key: str) -> Any:
        """A trait as conditions read it: computed key, `sqlkey.column`, a SQL column, identify trait."""
        project = self.run.project
        memberships = membership_keys(project)
        if key in memberships:
            return self.read.computed_values(key).get(profile_id) is True
        if key in computation_keys(project):
            return self.read.computed_values(key).get(profile_id)
        sql_key, dot, column = key.partition(".")
        if dot and project.get("sql_trait", sql_key) is not None:
            row = self.read.computed_values(sql_key).get(profile_id)
            return row.get(column) if isinstance(row, dict) else None
        for sql_trait in project.of_kind("sql_trait"):
            assert isinstance(sql_trait, SqlTrait)
            row = self.read.computed_values(sql_trait.key).get(profile_id)
            if isinstance(row, dict) and key in row:
                return row[key]
        found, value = self.read.identify_trait(profile_id, key)
        return value if found else None

    # ---- the change log ---------------------------------------------------------------------

    def changes(self, expected: ChangesExpectation) -> list[ExpectationFailure]:
        failures = []
        for change, wanted in (("entered", expected.entered), ("exited", expected.exited)):
            if wanted is None:
                continue
            actual = self.read.changes(self.run.run_id, change)
            keys = sorted(set(wanted) | {k for k in actual if k in membership_keys(self.run.project)})
            for key in keys:
                expectation = f"changes.{change}.{key}"
                want_ids: set[str] = set()
                for identifier in wanted.get(key, []):
                    profile_id = self.profile(identifier)
                    if profile_id is None:
                        failures.append(self.unknown(expectation, identifier))
                    else:
                        want_ids.add(profile_id)
                got = actual.get(key, set())
                missing, unexpected = want_ids - got, got - want_ids
                if not missing and not unexpected:
                    continue
                parts = []
                if missing:
                    parts.append(f"expected to have {change}: " + ", ".join(sorted(map(self.name, missing))))
                if unexpected:
                    parts.append(f"{change} but not expected: " + ", ".join(sorted(map(self.name, unexpected))))
                failures.append(ExpectationFailure(
                    expectation, f"{key}: " + "; ".join(parts),
                    {"profiles": [self.read.profile_summary(p) for p in sorted(missing | unexpected)]},
                ))
        return failures


def values_match(expected: Any, actual: Any) -> bool:
    """Exact comparison, except that numbers agree within a relative 1e-9 (or `{approx, tolerance}`)."""
    if isinstance(expected, dict) and "approx" in expected and set(expected) <= {"approx", "tolerance"}:
        approx = Approx.model_validate(expected)
        if not _is_number(actual):
            return False
        if approx.tolerance is None:
            return _close(approx.approx, actual)
        return abs(float(actual) - approx.approx) <= approx.tolerance
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if _is_number(expected):
        return _is_number(actual) and _close(expected, actual)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            values_match(e, a) for e, a in zip(expected, actual))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and set(expected) == set(actual) and all(
            values_match(expected[k], actual[k]) for k in expected)
    return expected == actual


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _close(expected: float, actual: float) -> bool:
    return math.isclose(float(expected), float(actual), rel_tol=DEFAULT_RELATIVE_TOLERANCE, abs_tol=1e-12)


def _show(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def _ids_json(ids: frozenset) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for id_type, id_value in sorted(ids):
        grouped.setdefault(id_type, []).append(id_value)
    return grouped


def _show_ids(ids: frozenset) -> str:
    return _show_ids_json(_ids_json(ids))


def _show_ids_json(ids: dict[str, list[str]]) -> str:
    return "{" + ", ".join(f"{t}: [{', '.join(v)}]" for t, v in ids.items()) + "}"
