"""Reading the user and conversation of a run from a LangChain ``RunnableConfig``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["session_ids"]


def session_ids(config: Mapping[str, Any]) -> tuple[str, str]:
    """``(user_id, conversation_id)`` from ``config["configurable"]``.

    Raises:
        ValueError: One of them is missing; the message shows the config to pass.
    """
    configurable = config.get("configurable") or {}
    user_id = configurable.get("user_id")
    conversation_id = configurable.get("conversation_id")
    missing = [
        name
        for name, value in [("user_id", user_id), ("conversation_id", conversation_id)]
        if not value
    ]
    if missing:
        raise ValueError(
            f"multisession memory needs {' and '.join(missing)}: call with "
            "config={'configurable': {'user_id': ..., 'conversation_id': ...}}"
        )
    return str(user_id), str(conversation_id)
