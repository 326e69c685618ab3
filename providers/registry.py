"""Finding providers by name: every folder of this package that defines `PROVIDER`."""

from __future__ import annotations

import importlib
import pkgutil

import providers
from engagectl.diagnostics import EngageError
from engagectl.sync.provider import Provider


class UnknownProvider(EngageError):
    def __init__(self, name: str):
        super().__init__(f"unknown provider {name!r}; available: {', '.join(available_providers())}")
        self.name = name


def available_providers() -> list[str]:
    """Names of the providers shipped in `providers/`, sorted."""
    return sorted({info.name for info in pkgutil.iter_modules(list(providers.__path__)) if info.ispkg})


def load_provider(name: str) -> type[Provider]:
    """The Provider class of a provider name (`file`, `webhook`, `braze`, …)."""
    if name not in available_providers():
        raise UnknownProvider(name)
    module = importlib.import_module(f"providers.{name}")
    provider = getattr(module, "PROVIDER", None)
    if provider is None:
        raise UnknownProvider(name)
    return provider
