"""The Profile API under load: `/traits?include=<key>` against 100k profiles.

A project is seeded straight into the warehouse layout (profiles, identities, an audience's
members, identify traits), `engagectl serve` runs as a real server process, and a load generator
in this process keeps 16 keep-alive connections busy with random lookups by email for a fixed
time (30 s at full scale).
Target: at least 1,000 requests/s with a p99 under 50 ms, server and load generator sharing 2 cores.
DuckDB is served by one process (from its read model in memory); Postgres (when reachable) by two
workers. Also reported: how long the server takes to start (on DuckDB: loading the read model) and
its resident memory after the load.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.figures import Figure

AUDIENCE = "high_value_users"
SPACE = "spa_bench"
POSTGRES_URL = os.environ.get("ENGAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCALES = {"small": (5_000, 5.0), "full": (100_000, 30.0)}  # profiles, seconds of load
CONNECTIONS = 16
TARGET_RATE = 1_000.0
TARGET_P99_MS = 50.0


def seed(warehouse, profiles: int) -> None:
    """Profiles with a user_id and an email, every third one in the audience, two identify traits."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    seen = now - timedelta(days=30)
    profile_rows, identity_rows, member_rows, trait_rows = [], [], [], []
    for i in range(profiles):
        profile_id = f"prof_{i:08d}"
        message_id = f"m{i}"
        profile_rows.append((profile_id, seen, now, message_id, message_id, "web", "web"))
        identity_rows.append((profile_id, "user_id", f"u{i}", seen, now, message_id, "web"))
        identity_rows.append((profile_id, "email", f"user{i}@example.com", seen, now, message_id, "web"))
        if i % 3 == 0:
            member_rows.append((AUDIENCE, "audience", profile_id, "true", now))
        trait_rows.append((profile_id, "plan", '"pro"' if i % 2 else '"free"', now, message_id))
        trait_rows.append((profile_id, "first_name", f'"Name{i}"', now, message_id))
    columns = {
        "profiles": ("profile_id", "created_at", "updated_at", "first_message_id", "last_message_id",
                     "first_source", "last_source"),
        "identities": ("profile_id", "id_type", "id_value", "first_seen", "last_seen", "first_message_id", "source"),
        "computed_values": ("computation_key", "kind", "profile_id", "value", "updated_at"),
        "profile_traits": ("profile_id", "key", "value", "updated_at", "message_id"),
    }
    rows = {"profiles": profile_rows, "identities": identity_rows, "computed_values": member_rows,
            "profile_traits": trait_rows}
    with warehouse.transaction():
        for table, table_rows in rows.items():
            warehouse.insert_rows(warehouse.table(table), columns[table], table_rows)


def write_project(directory: Path, warehouse_url: str) -> None:
    (directory / "audiences").mkdir(parents=True)
    (directory / "engage.yaml").write_text(
        f"space: {SPACE}\nwarehouse: {warehouse_url}\nstate: sqlite:///.engage/state.db\n", encoding="utf-8")
    (directory / "audiences" / "high_value_users.yaml").write_text(
        "kind: audience\nkey: high_value_users\nwhere: {event: Order Completed, count: {gte: 3}}\n",
        encoding="utf-8")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(directory: Path, port: int, workers: int) -> subprocess.Popen:
    """`engagectl serve` in a process of its own, returned once its port accepts connections."""
    command = [sys.executable, "-c", "from engagectl.cli import main; main()", "-C", str(directory),
               "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"engagectl serve exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("engagectl serve did not start within 60 s")


async def _connection(port: int, paths, deadline: float, auth: str, latencies: list[float],
                      errors: list[int]) -> None:
    """One keep-alive connection sending requests back to back until `deadline`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            request = (f"GET {next(paths)} HTTP/1.1\r\nHost: bench\r\nAuthorization: Basic {auth}\r\n\r\n").encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


def _paths(profiles: int):
    rng = random.Random(7)
    while True:
        yield (f"/v1/spaces/{SPACE}/collections/users/profiles/email:user{rng.randrange(profiles)}@example.com"
               f"/traits?include={AUDIENCE}")


async def _load(port: int, token: str, profiles: int, seconds: float) -> tuple[float, list[float], list[int]]:
    auth = base64.b64encode(f"{token}:".encode()).decode()
    paths = _paths(profiles)
    latencies: list[float] = []
    errors: list[int] = []
    # warm-up (not measured): connections open, the server's caches and prepared statements fill
    warm_until = time.perf_counter() + 1.0
    await asyncio.gather(*[_connection(port, paths, warm_until, auth, [], []) for _ in range(CONNECTIONS)])
    started = time.perf_counter()
    await asyncio.gather(*[_connection(port, paths, started + seconds, auth, latencies, errors)
                           for _ in range(CONNECTIONS)])
    return time.perf_counter() - started, latencies, errors


def _process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            pids += _process_tree(int(child))
    return pids


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of the server and its workers so far (Linux /proc; 0 elsewhere)."""
    total = 0
    try:
        for each in _process_tree(pid):
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    except (OSError, ValueError):
        return 0.0
    return total / os.sysconf("SC_CLK_TCK")


def server_rss_mb(pid: int) -> float:
    """Resident memory of the server and its workers (Linux /proc; 0 elsewhere)."""
    total = 0
    try:
        for each in _process_tree(pid):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])  # kB
    except (OSError, ValueError):
        return 0.0
    return total / 1024


def check_answers(port: int, token: str) -> None:
    """The served bodies are right before they are timed: a member, a non-member, an unknown email."""
    import httpx

    auth = {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}
    base = f"http://127.0.0.1:{port}/v1/spaces/{SPACE}/collections/users/profiles"
    expected = {"user0@example.com": {AUDIENCE: True}, "user1@example.com": {}}
    with httpx.Client(headers=auth, trust_env=False) as client:
        for email, traits in expected.items():
            response = client.get(f"{base}/email:{email}/traits?include={AUDIENCE}")
            if response.status_code != 200 or response.json()["traits"] != traits:
                raise RuntimeError(f"wrong answer for {email}: {response.status_code} {response.text}")
        if client.get(f"{base}/email:nobody@example.com/traits").status_code != 404:
            raise RuntimeError("an unknown email was found")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(engine: str, warehouse_url: str, workers: int, scale: str) -> list[Figure]:
    from engagectl.server.tokens import TokenStore
    from engagectl.warehouse import open_warehouse

    profiles, seconds = SCALES[scale]
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        write_project(directory, warehouse_url)
        warehouse = open_warehouse(warehouse_url, str(directory))
        try:
            seed(warehouse, profiles)
        finally:
            warehouse.close()
        token = TokenStore.open("sqlite:///.engage/state.db", str(directory)).create(SPACE, "bench").secret
        port = free_port()
        starting = time.perf_counter()
        server = start_server(directory, port, workers)
        start_seconds = time.perf_counter() - starting
        try:
            check_answers(port, token)
            cpu_before = server_cpu_seconds(server.pid)  # includes the warm-up second
            try:
                elapsed, latencies, errors = asyncio.run(_load(port, token, profiles, seconds))
            except OSError as exc:
                alive = server.poll() is None
                server.terminate()
                said = server.stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{engine}: the load failed ({exc!r}); the server "
                                   f"{'was still running' if alive else 'had exited'}: {said}") from exc
            cpu = server_cpu_seconds(server.pid) - cpu_before
            rss = server_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    rate = len(latencies) / elapsed
    label = f"server /traits?include ({engine}, {workers} worker{'s' if workers > 1 else ''}, {profiles:,} profiles)"
    note = f"{len(errors)} non-200 answers" if errors else ""
    return [
        Figure(f"{label} rate", rate, "req/s", baseline=TARGET_RATE, baseline_name="target",
               target_ratio=1.0, higher_is_better=True, note=note),
        Figure(f"{label} p50", _percentile(latencies, 0.50) * 1000, "ms"),
        Figure(f"{label} p99", _percentile(latencies, 0.99) * 1000, "ms", baseline=TARGET_P99_MS,
               baseline_name="target", target_ratio=1.0),
        # CPU per request does not depend on what else the machine runs: 1000 / it is the rate one
        # core of server could sustain (the warehouse's own CPU on Postgres is not counted).
        Figure(f"{label} server CPU per request", cpu / max(len(latencies), 1) * 1000, "ms",
               note="upper bound: warm-up CPU included" if cpu else "CPU not measurable here"),
        Figure(f"{label} server start", start_seconds, "s", note="until the port accepts connections"),
        Figure(f"{label} server RSS", rss, "MB",
               note="all processes, after the load" if rss else "not measurable here"),
    ]


def _postgres_schema_url() -> tuple[str, str] | None:
    try:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                             connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return f"{POSTGRES_URL}?schema={schema}", schema
    except Exception:
        return None


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run(scale: str) -> list[Figure]:
    figures = measure("duckdb", "duckdb:///.engage/warehouse.duckdb", 1, scale)
    postgres = _postgres_schema_url()
    if postgres is not None:
        url, schema = postgres
        try:
            figures += measure("postgres", url, 2, scale)
        finally:
            _drop_schema(schema)
    return figures
