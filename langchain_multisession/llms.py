"""A LangChain chat model as the engine's ``llm``, for summaries and fact extraction."""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

__all__ = ["llm_from_chat_model", "llm_from_langchain"]


def llm_from_langchain(model: BaseChatModel) -> Callable[[str], str]:
    """A LangChain chat model as the engine's ``llm`` (a callable ``prompt -> text``).

    Example::

        engine = MemoryEngine("./memory-store", llm=llm_from_langchain(ChatOpenAI()))

    Args:
        model: Any chat model; each prompt is sent as one human message.
    """

    def complete(prompt: str) -> str:
        return model.invoke([HumanMessage(content=prompt)]).text

    return complete


#: The first name of :func:`llm_from_langchain`, kept so that code using it still works.
llm_from_chat_model = llm_from_langchain
