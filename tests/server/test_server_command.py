"""`engagectl serve` starts a real server on the project's warehouse and state."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from server_support import SPACE, basic
from live import free_port


def test_serve_answers_on_the_given_port(project_dir):
    from engagectl.server.tokens import TokenStore

    # only the state is opened here: the server process must be the one holding the DuckDB file
    token = TokenStore.open("sqlite:///.engage/state.db", str(project_dir)).create(SPACE).secret
    port = free_port()
    command = [sys.executable, "-c", "from engagectl.cli import main; main()", "-C", str(project_dir),
               "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/spaces/{SPACE}/audiences", headers=basic(token))
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "engagectl serve did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert [a["key"] for a in response.json()["data"]["audiences"]] == ["high_value_users"]
        assert response.headers["request-id"]
        assert "server" not in response.headers
    finally:
        server.terminate()
        server.wait(timeout=30)
