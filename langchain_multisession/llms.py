"""A LangChain chat model as the engine's ``llm``, for summaries and fact extraction.

The engine also takes the chat model itself (``MemoryEngine(llm=chat_model)``); this
wrapper sends each prompt as one human message, which suits every chat model.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from multisession.extraction.models import ModelCall

__all__ = ["llm_from_chat_model", "llm_from_langchain"]


def llm_from_langchain(model: BaseChatModel) -> ModelCall:
    """A LangChain chat model as the engine's ``llm`` (a callable ``prompt -> text``).

    The engine's async methods call the model's ``ainvoke`` on the caller's event
    loop; its sync methods call ``invoke``.

    Example::

        engine = MemoryEngine("./memory-store", llm=llm_from_langchain(ChatOpenAI()))

    Args:
        model: Any chat model; each prompt is sent as one human message.
    """

    def complete(prompt: str) -> str:
        return model.invoke([HumanMessage(content=prompt)]).text

    async def acomplete(prompt: str) -> str:
        return (await model.ainvoke([HumanMessage(content=prompt)])).text

    return ModelCall(complete, acomplete, model)


#: The first name of :func:`llm_from_langchain`, kept so that code using it still works.
llm_from_chat_model = llm_from_langchain
