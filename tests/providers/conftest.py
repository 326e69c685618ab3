"""Provider tests share the fake destination server of the delivery tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "sync"))

from sync_fakes import FakeDestination, start_destination


@pytest.fixture
def server():
    http_server, fake = start_destination(FakeDestination())
    yield fake
    fake.release.set()
    http_server.shutdown()
    http_server.server_close()
