"""The MCP server through the official SDK's client: over stdio, and streamable HTTP.

The server runs as an assistant runs it, ``multisession mcp`` in a subprocess; the
client lists its tools and calls each one.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from .conftest import CLI, _free_port, cli_env, make_key

TOOLS = {"remember", "search", "list_memories", "forget", "user_summary"}


def _payload(result: Any) -> Any:
    """A tool's structured result (a list comes wrapped as {"result": [...]})."""
    assert not result.is_error, result.content
    value = result.structured_content
    if isinstance(value, dict) and set(value) == {"result"}:
        return value["result"]
    return value


def _stdio(store: Path, tenant: str, user: str, *options: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=str(CLI),
        args=["--store", str(store), *options, "mcp", "--tenant", tenant, "--user", user],
        env=cli_env(),
    )


async def _session_calls(store: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with (
        stdio_client(_stdio(store, "acme", "alice")) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.list_tools()
        seen["tools"] = {tool.name: tool for tool in listed.tools}
        seen["remember"] = _payload(
            await session.call_tool(
                "remember", {"content": "I am allergic to peanuts", "kind": "fact"}
            )
        )
        await session.call_tool(
            "remember", {"content": "Prefers short answers", "kind": "preference"}
        )
        seen["search"] = _payload(
            await session.call_tool("search", {"query": "food allergy", "k": 3})
        )
        seen["list"] = _payload(await session.call_tool("list_memories", {"limit": 10}))
        seen["summary"] = _payload(await session.call_tool("user_summary", {}))
        seen["forget"] = _payload(
            await session.call_tool("forget", {"memory_id": seen["remember"]["id"]})
        )
        seen["after"] = _payload(await session.call_tool("list_memories", {}))
        seen["bad"] = await session.call_tool("forget", {"memory_id": "nope"})
        seen["empty"] = await session.call_tool("remember", {"content": "  "})
    return seen


def test_every_tool_over_stdio(tmp_path: Path) -> None:
    store = tmp_path / "store"
    seen = asyncio.run(_session_calls(store))
    assert set(seen["tools"]) == TOOLS
    assert all(tool.description for tool in seen["tools"].values())
    assert seen["remember"]["user_id"] == "alice" and seen["remember"]["kind"] == "fact"
    assert seen["search"][0]["id"] == seen["remember"]["id"] and seen["search"][0]["score"] > 0
    assert {m["content"] for m in seen["list"]} == {
        "I am allergic to peanuts",
        "Prefers short answers",
    }
    assert seen["summary"]["memories"] == 2
    assert seen["summary"]["preferences"] == ["Prefers short answers"]
    assert seen["forget"] == f"forgot memory {seen['remember']['id']}"
    assert [m["content"] for m in seen["after"]] == ["Prefers short answers"]
    assert seen["bad"].is_error and "malformed memory id" in seen["bad"].content[0].text
    assert seen["empty"].is_error and "memory content is empty" in seen["empty"].content[0].text
    # Stored under the tenant's owner id, as the REST API stores it.
    listed = subprocess.run(
        [str(CLI), "--store", str(store), "--no-embed", "list", "acme:alice", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
        check=True,
    )
    assert "Prefers short answers" in listed.stdout


async def _other_tenant_sees(store: Path) -> tuple[Any, Any]:
    async with (
        stdio_client(_stdio(store, "globex", "alice", "--no-embed")) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        search = await session.call_tool("search", {"query": "peanuts"})
        listed = await session.call_tool("list_memories", {})
        return _payload(search), _payload(listed)


def test_another_tenant_s_mcp_server_sees_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    made = subprocess.run(
        [str(CLI), "--store", str(store), "--no-embed", "add", "acme:alice", "allergic to peanuts"],
        capture_output=True,
        text=True,
        env=cli_env(),
    )
    assert made.returncode == 0, made.stderr
    assert asyncio.run(_other_tenant_sees(store)) == ([], [])


async def _over_http(url: str, token: str) -> tuple[set[str], Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        await session.call_tool("remember", {"content": "Works at Acme"})
        found = _payload(await session.call_tool("search", {"query": "employer acme"}))
        return tools, found


def test_streamable_http_needs_a_key_that_reaches_the_user(tmp_path: Path) -> None:
    store = tmp_path / "store"
    token, _ = make_key(store, "acme", "--user", "alice")
    other, _ = make_key(store, "acme", "--user", "bob")
    reader, _ = make_key(store, "acme", "--read-only")
    port = _free_port()
    log = tmp_path / "mcp.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(CLI), "--store", str(store), "--no-embed", "mcp", "--transport", "http",
             "--port", str(port), "--tenant", "acme", "--user", "alice"],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=cli_env(),
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                refused = httpx.post(url, json={}, timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(log.read_text())
                time.sleep(0.2)
        assert refused.status_code == 401 and "needs a valid API key" in refused.text
        for key, expected in ((other, "may not reach user 'alice'"), (reader, "read-only")):
            answer = httpx.post(url, json={}, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 403 and expected in answer.text
        tools, found = asyncio.run(_over_http(url, token))
        assert tools == TOOLS
        assert [hit["content"] for hit in found] == ["Works at Acme"]
    finally:
        process.terminate()
        process.wait(timeout=60)
