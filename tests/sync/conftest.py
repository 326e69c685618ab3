"""Fixtures for delivery tests: a fake destination server and a manual clock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sync_fakes import FakeDestination, start_destination

from engagectl.sync.clock import ManualClock


@pytest.fixture
def destination_server():
    server, fake = start_destination(FakeDestination())
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock():
    return ManualClock()
