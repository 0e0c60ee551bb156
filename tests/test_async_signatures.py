"""Each async method keeps its sync twin's signature, so type checkers see real parameters.

A parameter added to a sync method and not to its twin (or given another default or
type) fails here, for the engine and for the adapters' async methods.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

from multisession import MemoryEngine


def _async_twin_names() -> list[str]:
    names = []
    for name in dir(MemoryEngine):
        if not name.startswith("a") or name.startswith("_"):
            continue
        method = getattr(MemoryEngine, name)
        if inspect.iscoroutinefunction(method) and callable(getattr(MemoryEngine, name[1:], None)):
            names.append(name[1:])
    return sorted(names)


def _normalised(annotation: Any) -> Any:
    """An annotation as text, without the ``builtins.`` that methods named ``list`` need."""
    if annotation is inspect.Parameter.empty:
        return annotation
    return re.sub(r"\bbuiltins\.", "", str(annotation)).replace(" ", "")


def _parameters(method: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    signature = inspect.signature(method)
    return [
        (p.name, p.kind, p.default, _normalised(p.annotation))
        for p in list(signature.parameters.values())[1:]  # not self
    ]


def test_every_engine_method_with_a_twin_is_compared() -> None:
    names = _async_twin_names()
    # The methods users reach for most: if discovery broke, the test below would pass
    # on nothing.
    assert {"add", "search", "build_context", "record_exchange", "list"} <= set(names)
    assert len(names) >= 18


@pytest.mark.parametrize("name", _async_twin_names())
def test_an_async_twin_has_its_sync_methods_signature(name: str) -> None:
    sync = getattr(MemoryEngine, name)
    twin = getattr(MemoryEngine, "a" + name)
    assert _parameters(twin) == _parameters(sync)
    assert _normalised(inspect.signature(twin).return_annotation) == _normalised(
        inspect.signature(sync).return_annotation
    )
    assert "**" not in str(inspect.signature(twin))


def _adapter_pairs() -> list[tuple[type, str]]:
    from langchain_multisession import (
        MultiSessionChatMessageHistory,
        MultiSessionMemory,
        MultiSessionMiddleware,
        MultiSessionStore,
    )
    from llamaindex_multisession import MultiSessionMemory as LlamaIndexMemory

    return [
        (MultiSessionMemory, "load"),
        (MultiSessionMemory, "save"),
        (MultiSessionMiddleware, "before_agent"),
        (MultiSessionMiddleware, "after_agent"),
        (MultiSessionStore, "batch"),
        (MultiSessionChatMessageHistory, "add_messages"),
        (LlamaIndexMemory, "put"),
        (LlamaIndexMemory, "put_messages"),
    ]


@pytest.mark.parametrize(
    ("owner", "name"), _adapter_pairs(), ids=lambda value: getattr(value, "__name__", value)
)
def test_an_adapters_async_method_has_its_sync_methods_signature(owner: type, name: str) -> None:
    sync = getattr(owner, name)
    twin = getattr(owner, "a" + name)
    assert inspect.iscoroutinefunction(twin)
    assert _parameters(twin) == _parameters(sync)
