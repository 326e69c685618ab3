"""`${env:NAME}` placeholders: kept verbatim in models, state and plans; resolved where used."""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

from engagectl.diagnostics import EngageError

PLACEHOLDER = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingEnvironmentVariable(EngageError):
    def __init__(self, name: str):
        super().__init__(f"environment variable {name} is not set (referenced as ${{env:{name}}})")
        self.name = name


def resolve_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace every `${env:NAME}` in strings, recursively through dicts and lists."""
    environ = os.environ if environ is None else environ
    if isinstance(value, str):
        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name not in environ:
                raise MissingEnvironmentVariable(name)
            return environ[name]

        return PLACEHOLDER.sub(substitute, value)
    if isinstance(value, dict):
        return {k: resolve_env(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, environ) for v in value]
    return value


def placeholders(value: Any) -> set[str]:
    """Names of every environment variable a value refers to."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()
