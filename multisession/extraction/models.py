"""The app's language model, in whatever form it comes, as one ``prompt -> text`` call.

``MemoryEngine(llm=...)`` takes a plain function ``prompt -> text``, an ``async def``
one, a LangChain chat model (or any runnable with ``invoke``/``ainvoke``) or a LlamaIndex
LLM (``complete``/``acomplete``). The rest of the core calls one sync
``prompt -> text`` function (:data:`~multisession.extraction.llm.LLM`) from blocking
code; :func:`as_llm` makes that function from the model, and it picks the model's form
by where it runs:

- called from an async method of the engine (blocking code in a worker thread, see
  :mod:`multisession._threads`), a model with an async form is awaited on the caller's
  event loop, where its client lives;
- called from a sync method, the sync form is used; a model with only an async form
  runs in a loop of its own;
- a sync-only model runs where the engine's blocking code runs: in the worker thread on
  async paths, so the event loop keeps serving other requests meanwhile.

Frameworks are recognised by their method names, so the core imports none of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias, cast, runtime_checkable

from .._threads import awaited_by_a_loop, run_coroutine, to_thread
from ..errors import ConfigurationError

__all__ = ["LLMInput", "ModelCall", "as_llm"]


@runtime_checkable
class _Runnable(Protocol):
    """A LangChain runnable (chat models included): ``invoke`` and ``ainvoke``."""

    def invoke(self, input: Any, /) -> Any: ...
    async def ainvoke(self, input: Any, /) -> Any: ...


@runtime_checkable
class _Completer(Protocol):
    """A LlamaIndex LLM: ``complete`` and ``acomplete``, replies with ``.text``."""

    def complete(self, prompt: str, /) -> Any: ...
    async def acomplete(self, prompt: str, /) -> Any: ...


#: What ``MemoryEngine(llm=...)`` accepts (see the module docstring).
LLMInput: TypeAlias = (
    Callable[[str], str] | Callable[[str], Awaitable[str]] | _Runnable | _Completer
)


class ModelCall:
    """A language model as a sync ``prompt -> text`` call that awaits where it can.

    Build it with :func:`as_llm`. Calling it returns the model's text (see the module
    docstring for which form of the model runs where); :meth:`acall` is the async call.

    Args:
        sync: The model's sync form, or None when it has none.
        asynchronous: The model's async form, or None when it has none.
        model: What was passed as ``llm``, for ``repr``.
    """

    def __init__(
        self,
        sync: Callable[[str], Any] | None,
        asynchronous: Callable[[str], Awaitable[Any]] | None,
        model: object,
    ) -> None:
        if sync is None and asynchronous is None:
            raise ValueError("a model needs a sync or an async form")
        self._sync = sync
        self._async = asynchronous
        self.model = model

    @property
    def is_async(self) -> bool:
        """Whether the model has an async form (awaited on async paths)."""
        return self._async is not None

    def __call__(self, prompt: str) -> str:
        """The model's reply to ``prompt`` (it may raise whatever the model raises)."""
        if self._async is not None and (self._sync is None or awaited_by_a_loop()):
            asynchronous = self._async
            return _text(run_coroutine(lambda: asynchronous(prompt)))
        assert self._sync is not None  # one of the two is set (checked on creation)
        reply = self._sync(prompt)
        if inspect.isawaitable(reply):  # a sync function handing back a coroutine
            awaitable = reply
            return _text(run_coroutine(lambda: awaitable))
        return _text(reply)

    async def acall(self, prompt: str) -> str:
        """The model's reply to ``prompt``, from async code.

        The async form is awaited; a sync-only model runs in a worker thread.
        """
        if self._async is not None:
            return _text(await self._async(prompt))
        return await to_thread(self.__call__, prompt)

    def __repr__(self) -> str:
        return f"ModelCall({self.model!r})"


def as_llm(llm: object) -> ModelCall | None:
    """The engine's view of ``llm``: a :class:`ModelCall`, or None for no model.

    Example:
        >>> async def model(prompt: str) -> str:
        ...     return "Noted."
        >>> as_llm(model)("Remember this")
        'Noted.'

    Raises:
        ConfigurationError: ``llm`` is none of the accepted forms.
    """
    if llm is None or isinstance(llm, ModelCall):
        return llm
    if isinstance(llm, _Runnable):
        return ModelCall(llm.invoke, llm.ainvoke, llm)
    if isinstance(llm, _Completer):
        return ModelCall(llm.complete, llm.acomplete, llm)
    if _is_async_callable(llm):
        return ModelCall(None, llm, llm)  # type: ignore[arg-type]
    if callable(llm):
        return ModelCall(llm, None, llm)
    raise ConfigurationError(
        "llm must be a function prompt -> text (sync or async def), a LangChain chat "
        "model or a LlamaIndex LLM, got " + type(llm).__name__
    )


def _is_async_callable(value: object) -> bool:
    if inspect.iscoroutinefunction(value):
        return True
    call = getattr(type(value), "__call__", None)  # noqa: B004 (the method, not callable())
    return call is not None and inspect.iscoroutinefunction(call)


def _text(reply: object) -> str:
    """The text of a model's reply: a string, a chat message or a completion."""
    if isinstance(reply, str):
        return reply
    text = getattr(reply, "text", None)  # LangChain messages, LlamaIndex completions
    if callable(text) and not isinstance(text, str):
        text = text()
    if isinstance(text, str):
        return str(text)
    content = getattr(reply, "content", None)
    if isinstance(content, str):
        return content
    # Anything else goes on as it is: the callers check what they were given and fall
    # back to the rules on a reply that is not text, as for any unusable reply.
    return cast(str, reply)
