"""A real ``multisession serve`` on loopback, with keys made by the real CLI.

The server runs as users run it, in its own process on a free port of 127.0.0.1, and
the tests talk to it over HTTP with httpx. Its store lives in the test's temporary
directory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

CLI = Path(sys.executable).parent / "multisession"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli_env() -> dict[str, str]:
    variables = dict(os.environ)
    variables.pop("MULTISESSION_STORE", None)
    variables["COLUMNS"] = "200"
    return variables


def run_cli(*args: object) -> subprocess.CompletedProcess[str]:
    """The console script, run to the end."""
    return subprocess.run(
        [str(CLI), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=180,
    )


def make_key(
    store: Path, tenant: str, *options: str, sql_url: str | None = None
) -> tuple[str, str]:
    """A new key (token, key id) made with ``multisession keys create``."""
    where = ["--sql-url", sql_url] if sql_url else []
    result = run_cli(
        "--store", store, *where, "keys", "create", "--tenant", tenant, *options, "--json"
    )
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    return made["key"], made["key_id"]


@dataclass
class Service:
    """A running server: its URL, store and the keys made for the tests."""

    url: str
    store: Path
    process: subprocess.Popen[str]
    log: Path
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def start_service(
    store: Path, *options: str, keys: dict[str, tuple[str, ...]], sql_url: str | None = None
) -> Service:
    """Make the keys, start ``multisession serve`` and wait until it answers.

    ``sql_url`` puts the store's SQL in that database instead of ``store``.
    """
    made = {name: make_key(store, *spec, sql_url=sql_url) for name, spec in keys.items()}
    where = ["--sql-url", sql_url] if sql_url else []
    port = _free_port()
    log = store.parent / f"server-{port}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(CLI), "--store", str(store), *where, "serve", "--port", str(port), *options],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env=cli_env(),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the server did not start within 120 s")
        time.sleep(0.2)
    return Service(
        url=url,
        store=store,
        process=process,
        log=log,
        keys={name: token for name, (token, _) in made.items()},
        key_ids={name: key_id for name, (_, key_id) in made.items()},
    )


def stop_service(service: Service) -> None:
    service.process.terminate()
    try:
        service.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()


#: The keys of the shared server: two tenants, and narrower keys of the first.
KEYS: dict[str, tuple[str, ...]] = {
    "acme": ("acme",),
    "globex": ("globex",),
    "acme_read": ("acme", "--read-only"),
    "acme_alice": ("acme", "--user", "alice"),
    "acme_revoked": ("acme",),
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One server with the real embedder for a test module, stopped at its end."""
    store = tmp_path_factory.mktemp("service") / "store"
    running = start_service(store, keys=KEYS)
    try:
        yield running
    finally:
        stop_service(running)
