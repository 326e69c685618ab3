"""Shared by list destinations: identifier normalisation and hashing, runs of add/remove."""

from __future__ import annotations

import hashlib
import re
from itertools import groupby

from engagectl.sync.provider import Delivery


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str, plus: bool = False) -> str:
    """Digits only, country code included; Google wants E.164 with the `+`."""
    digits = re.sub(r"\D", "", value).lstrip("0")
    return f"+{digits}" if plus else digits


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def runs(batch: list[Delivery]) -> list[tuple[tuple[str, str], list[Delivery]]]:
    """Consecutive deliveries for the same (audience, add|remove): one request each, in order."""
    key = lambda d: (d.payload["audience_key"], d.payload["action"])
    return [(k, list(group)) for k, group in groupby(batch, key=key)]


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]
