"""The memory service under load: 50 clients over 10 users of two tenants, one server.

Starts ``multisession serve`` (real embedder, SQLite and embedded Chroma in a temporary
directory) on loopback, fills 10 users (5 user ids, each in two tenants, so a leak
between tenants would show) and runs 50 concurrent clients for a bounded time, each
mixing writes (30 %) and searches (70 %) for a user of its own tenant. Every memory
names its tenant and user, so each search hit is checked: a hit of another tenant or
user counts as a cross-tenant result. Then, on the idle server, the HTTP overhead: the
same searches made through the server and through ``MemoryEngine.search`` in this
process, in alternating turns, p50 against p50.

Prints throughput, p50/p95 per operation, errors, cross-tenant results, and the search
p50 ratio server / library. Nothing is written outside a temporary directory.

``--code DIR`` (repeated) also serves the same store, in the overhead phase, from
other checkouts (e.g. ``git worktree add --detach /tmp/before <commit>``): each turn
then asks every server and the library in turn, so a before/after comparison sees
the same load.

Usage::

    .venv/bin/python benchmarks/service_load.py                 # 60 s of load
    .venv/bin/python benchmarks/service_load.py --seconds 20    # a quick run
    .venv/bin/python benchmarks/service_load.py --seconds 20 --code /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CLI = Path(sys.executable).parent / "multisession"
TENANTS = ("acme", "globex")
USER_IDS = tuple(f"user{number}" for number in range(5))
TOPICS = (
    "hiking in the Alps",
    "learning to bake sourdough",
    "a peanut allergy",
    "playing the cello",
    "moving to Lisbon",
    "training for a marathon",
    "reading science fiction",
    "a new job at the hospital",
)
QUERIES = (
    "what food should be avoided?",
    "which sport does this person practise?",
    "where does the user live?",
    "what are the hobbies?",
    "what music instrument?",
    "what about work?",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _memory(tenant: str, user: str, number: int) -> str:
    topic = TOPICS[number % len(TOPICS)]
    return f"[{tenant}/{user}] note {number}: talked about {topic}"


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"write": [], "search": []})
    errors: list[str] = field(default_factory=list)
    cross_tenant: int = 0
    hits_checked: int = 0


async def _client(
    number: int, url: str, tokens: dict[str, str], deadline: float, tally: Tally
) -> None:
    tenant = TENANTS[number % 2]
    user = USER_IDS[(number // 2) % len(USER_IDS)]
    marker = f"[{tenant}/{user}]"
    chance = random.Random(number)
    headers = {"Authorization": f"Bearer {tokens[tenant]}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        written = 0
        while time.monotonic() < deadline:
            if chance.random() < 0.3:
                kind = "write"
                body = {"content": _memory(tenant, user, 1000 + number * 10_000 + written)}
                started = time.perf_counter()
                response = await client.post(f"/v1/users/{user}/memories", json=body)
                written += 1
                expected = 201
            else:
                kind = "search"
                body = {"query": chance.choice(QUERIES), "k": 10}
                started = time.perf_counter()
                response = await client.post(f"/v1/users/{user}/search", json=body)
                expected = 200
            elapsed = time.perf_counter() - started
            if response.status_code != expected:
                tally.errors.append(f"{kind} {response.status_code}: {response.text[:200]}")
                continue
            tally.latencies[kind].append(elapsed)
            if kind == "search":
                for hit in response.json()["hits"]:
                    tally.hits_checked += 1
                    if not hit["memory"]["content"].startswith(marker):
                        tally.cross_tenant += 1


async def _load(url: str, tokens: dict[str, str], clients: int, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(_client(number, url, tokens, deadline, tally) for number in range(clients))
    )
    return tally


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _key(store: Path, tenant: str, env: dict[str, str]) -> str:
    made = subprocess.run(
        [str(CLI), "--store", str(store), "keys", "create", "--tenant", tenant, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return str(json.loads(made.stdout)["key"])


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used; 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _engine_seconds(client: httpx.Client) -> tuple[float, float]:
    """The server's own count of searches and their seconds in ``engine.search``."""
    text = client.get("/metrics").text
    found = dict.fromkeys(("_sum", "_count"), 0.0)
    for line in text.splitlines():
        for suffix in found:
            if line.startswith(f"multisession_search_seconds{suffix} "):
                found[suffix] = float(line.split()[-1])
    return found["_count"], found["_sum"]


@dataclass
class Timings:
    """Wall-clock seconds of each search of one side, and the CPU seconds it used."""

    wall: list[float] = field(default_factory=list)
    cpu: float = 0.0
    #: Mean seconds in ``engine.search`` inside the server (from its metrics).
    engine: float | None = None

    def line(self, library: Timings | None = None) -> str:
        p50, p10 = statistics.median(self.wall), _percentile(self.wall, 0.1)
        cpu = self.cpu / len(self.wall)
        text = f"p50 {p50 * 1000:.2f} ms (p10 {p10 * 1000:.2f}), CPU {cpu * 1000:.2f} ms a search"
        if library is None:
            return f"{text}, mean {statistics.mean(self.wall) * 1000:.2f} ms"
        base50, base10 = statistics.median(library.wall), _percentile(library.wall, 0.1)
        text = (
            f"{text}\n    HTTP overhead {(p50 - base50) * 1000:+.2f} ms at p50 "
            f"(ratio server / library {p50 / base50:.2f}), {(p10 - base10) * 1000:+.2f} ms "
            f"at p10, {(cpu - library.cpu / len(library.wall)) * 1000:+.2f} ms of CPU"
        )
        if self.engine is not None:
            mean = statistics.mean(self.wall)
            text += (
                f"\n    mean {mean * 1000:.2f} ms, of which {self.engine * 1000:.2f} ms in the "
                f"server's engine.search: {(mean - self.engine) * 1000:.2f} ms outside it"
            )
        return text


class _Connection:
    """One keep-alive HTTP/1.1 connection to a server, blocking, from the standard library.

    The overhead phase measures the server, so its client should cost as little as
    possible: ``http.client`` on one open connection sends a request and reads the
    answer in ~0.1 ms of Python, where ``httpx`` takes ~0.8 ms more (measured against the
    server's own timing of the same requests).
    """

    def __init__(self, url: str) -> None:
        address = url.removeprefix("http://")
        host, _, port = address.partition(":")
        self._connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def search(self, token: str, user: str, query: str) -> tuple[int, bytes]:
        body = json.dumps({"query": query, "k": 10}).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._connection.request("POST", f"/v1/users/{user}/search", body, headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._connection.close()


def _overhead(
    urls: dict[str, str],
    pids: dict[str, int],
    tokens: dict[str, str],
    store: Path,
    turns: int,
    pause: float,
) -> tuple[dict[str, Timings], Timings]:
    """Searches through each idle server and through the library, in alternating turns.

    Besides wall-clock times, the CPU each side used for its searches (the server's
    process from /proc, the library's from this process): on a machine shared with
    other work a request waits for a core, which wall-clock time counts and CPU time
    does not.

    With ``pause``, each search starts that many seconds after the one before, so the
    other process's onnxruntime threads, which spin for a while after an embedding,
    have stopped (for studying that effect; the default is no pause).
    """
    from multisession import MemoryEngine
    from multisession.server.tenancy import owner_id

    servers = {name: Timings() for name in urls}
    library = Timings()
    engine = MemoryEngine(store, repair_on_open=False)
    reader = {"Authorization": f"Bearer {tokens[TENANTS[0]]}"}
    metrics = {name: httpx.Client(base_url=url, headers=reader) for name, url in urls.items()}
    clients = {name: _Connection(url) for name, url in urls.items()}
    try:
        for turn in range(turns + 5):
            if turn == 5:  # the first turns warm everything up
                before = {name: _engine_seconds(metrics[name]) for name in urls}
            tenant, user = TENANTS[turn % 2], USER_IDS[turn % len(USER_IDS)]
            query = QUERIES[turn % len(QUERIES)]
            names = list(urls)
            names = names[turn % len(names) :] + names[: turn % len(names)]  # who goes first
            for name in names:
                time.sleep(pause)
                cpu = _cpu_seconds(pids[name])
                started = time.perf_counter()
                status, answer = clients[name].search(tokens[tenant], user, query)
                elapsed = time.perf_counter() - started
                assert status == 200, answer
                if turn >= 5:  # the first turns warm everything up
                    servers[name].wall.append(elapsed)
                    servers[name].cpu += _cpu_seconds(pids[name]) - cpu
            time.sleep(pause)
            cpu = time.process_time()
            started = time.perf_counter()
            engine.search(owner_id(tenant, user), query, k=10)
            elapsed = time.perf_counter() - started
            if turn >= 5:
                library.wall.append(elapsed)
                library.cpu += time.process_time() - cpu
        for name in urls:
            count, seconds = _engine_seconds(metrics[name])
            if count > before[name][0]:
                servers[name].engine = (seconds - before[name][1]) / (count - before[name][0])
    finally:
        for client in clients.values():
            client.close()
        for metric in metrics.values():
            metric.close()
        engine.close()
    return servers, library


def _serve(store: Path, env: dict[str, str], log_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``multisession serve`` on the store; its URL once it answers."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(CLI), "--store", str(store), "serve", "--port", str(port), "--log-level",
             "warning", "--slow-search-ms", "100000"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return url, server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"the server did not start: {log_path.read_text()}")
        time.sleep(0.2)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="load duration (60)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--memories", type=int, default=200, help="memories per user first (200)")
    parser.add_argument("--turns", type=int, default=200, help="overhead turns (200)")
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=0,
        help="idle time before each search of the overhead phase (0)",
    )
    parser.add_argument(
        "--code",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="another checkout to serve the store in the overhead phase (repeatable)",
    )
    args = parser.parse_args(argv)
    env = {**os.environ, "MULTISESSION_OFFLINE": "1"}
    env.pop("MULTISESSION_STORE", None)
    servers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="multisession-load-") as temporary:
        store = Path(temporary) / "store"
        tokens = {tenant: _key(store, tenant, env) for tenant in TENANTS}
        try:
            url, server = _serve(store, env, Path(temporary) / "server.log")
            servers.append(server)
            for tenant in TENANTS:
                with httpx.Client(
                    base_url=url, headers={"Authorization": f"Bearer {tokens[tenant]}"}
                ) as client:
                    for user in USER_IDS:
                        batch = [
                            {"content": _memory(tenant, user, number)}
                            for number in range(args.memories)
                        ]
                        response = client.post(
                            f"/v1/users/{user}/memories/batch", json={"memories": batch},
                            timeout=300,
                        )  # fmt: skip
                        response.raise_for_status()
            print(
                f"load: {args.clients} clients, {len(TENANTS) * len(USER_IDS)} users "
                f"({len(TENANTS)} tenants), {args.memories} memories each, "
                f"{args.seconds:.0f} s, 30 % writes / 70 % searches"
            )
            started = time.monotonic()
            tally = asyncio.run(_load(url, tokens, args.clients, args.seconds))
            wall = time.monotonic() - started
            # Every side of the overhead phase opens the store as it is now: the library,
            # a fresh server of this checkout and one of each --code checkout. The server
            # that took the load is measured too, on its own line: its engine answers
            # slower than a freshly opened one (the state 20 s of writes left).
            fresh_url, fresh = _serve(store, env, Path(temporary) / "server-fresh.log")
            servers.append(fresh)
            urls = {"this checkout": fresh_url, "this checkout, after the load": url}
            pids = {"this checkout": fresh.pid, "this checkout, after the load": server.pid}
            for number, code in enumerate(args.code):
                other_env = {**env, "PYTHONPATH": str(code.resolve())}
                other_url, other = _serve(
                    store, other_env, Path(temporary) / f"server-{number}.log"
                )
                servers.append(other)
                urls[str(code)] = other_url
                pids[str(code)] = other.pid
            server_times, library_times = _overhead(
                urls, pids, tokens, store, args.turns, args.pause_ms / 1000
            )
        finally:
            for running in servers:
                _stop(running)
    requests = sum(len(values) for values in tally.latencies.values()) + len(tally.errors)
    print()
    print(f"{'operation':<10} {'count':>7} {'p50 ms':>9} {'p95 ms':>9}")
    for kind, values in tally.latencies.items():
        print(
            f"{kind:<10} {len(values):>7} {_percentile(values, 0.5) * 1000:>9.1f} "
            f"{_percentile(values, 0.95) * 1000:>9.1f}"
        )
    print()
    print(f"throughput         {requests / wall:.1f} requests/s over {wall:.1f} s")
    print(f"errors             {len(tally.errors)}")
    for problem in tally.errors[:5]:
        print(f"  {problem}")
    print(f"cross-tenant hits  {tally.cross_tenant} of {tally.hits_checked} checked")
    print()
    print(f"load average       {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"idle search, {len(library_times.wall)} turns")
    print(f"  library: {library_times.line()}")
    for name, timings in server_times.items():
        print(f"  server ({name}): {timings.line(library_times)}")
    return 0 if not tally.errors and tally.cross_tenant == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
