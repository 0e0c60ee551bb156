"""The embedder protocol the engine depends on, and the adapter that fits any model to it.

The engine, the vector indexes and the framework adapters need only three things from a
model: a stable ``name`` stored with the vectors (so a model change is detected), the
``dimension``, and ``embed`` returning unit-length float32 rows. That contract, and
:func:`as_embedder`, which fits a LangChain ``Embeddings``, a LlamaIndex
``BaseEmbedding``, a Chroma embedding function or a plain function to it, live here,
apart from the offline default in :mod:`multisession.embeddings.minilm` and its weight
lookup: any model plugs in without reading about MiniLM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from multisession.errors import InvalidInputError

__all__ = ["Embedder", "Vectors", "as_embedder"]

Vectors = NDArray[np.float32]
"""A float32 matrix with one row per text."""

# Embedded once when a wrapped model's dimension is asked for before its first call.
_PROBE_TEXT = "dimension probe"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors.

    Example::

        class Constant:
            name = "constant"
            dimension = 2

            def embed(self, texts):
                return numpy.tile(numpy.float32([0.6, 0.8]), (len(texts), 1))

        assert isinstance(Constant(), Embedder)
    """

    @property
    def name(self) -> str:
        """A stable id of the model, stored with vectors to detect a model change."""
        ...

    @property
    def dimension(self) -> int:
        """The length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``.

        Args:
            texts: The texts, in order.

        Returns:
            A float32 array of shape ``(len(texts), dimension)`` whose rows have L2
            norm 1; shape ``(0, dimension)`` for no texts.
        """
        ...


class _CallableEmbedder:
    """An :class:`Embedder` around ``function(list_of_texts) -> vectors``."""

    def __init__(self, function: Callable[[list[str]], Any], name: str) -> None:
        self._function = function
        self._name = name
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed([_PROBE_TEXT])
        assert self._dimension is not None
        return self._dimension

    def __repr__(self) -> str:
        return f"as_embedder({self._function!r}, name={self._name!r})"

    def embed(self, texts: Sequence[str]) -> Vectors:
        items = _check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        output = self._function(items)
        try:
            vectors = np.asarray(output, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise InvalidInputError(
                f"embedder {self._name!r} must return one equal-length vector per text; "
                f"got {type(output).__name__} that is not a matrix of numbers ({error})"
            ) from error
        if vectors.ndim != 2 or vectors.shape[0] != len(items) or vectors.shape[1] == 0:
            raise InvalidInputError(
                f"embedder {self._name!r} returned an array of shape {vectors.shape} for "
                f"{len(items)} texts; expected one non-empty vector per text"
            )
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        elif vectors.shape[1] != self._dimension:
            raise InvalidInputError(
                f"embedder {self._name!r} returned vectors of dimension {vectors.shape[1]}, "
                f"earlier ones had {self._dimension}"
            )
        if not np.isfinite(vectors).all():
            raise InvalidInputError(f"embedder {self._name!r} returned NaN or infinite values")
        return _l2_normalise(vectors)


def as_embedder(obj: object, *, name: str | None = None) -> Embedder:
    """Make an :class:`Embedder` out of ``obj``.

    Accepted, in this order: an :class:`Embedder` (returned unchanged); an object with
    ``embed_documents`` (a LangChain ``Embeddings``) or ``get_text_embedding_batch`` (a
    LlamaIndex ``BaseEmbedding``); any callable from a list of texts to a sequence of
    vectors, which includes a Chroma ``EmbeddingFunction``. Wrapped outputs are
    converted to float32 and L2-normalised; the dimension is learned from the first call
    (or from a one-text probe when asked for first; on Python < 3.12 an
    ``isinstance(wrapped, Embedder)`` check reads it too).

    Example::

        embedder = as_embedder(lambda texts: [[len(t), 1.0] for t in texts], name="length")
        assert embedder.dimension == 2

    Args:
        obj: The embedder, model or function.
        name: The model id stored with vectors. Defaults to the function's qualified
            name, or the class's, followed by ``:<model>`` when the object has a string
            ``model_name`` or ``model`` attribute.

    Returns:
        An :class:`Embedder`.

    Raises:
        TypeError: ``obj`` is none of the above.
    """
    if isinstance(obj, _CallableEmbedder) or (
        not isinstance(obj, type) and isinstance(obj, Embedder)
    ):
        return obj
    function: Callable[[list[str]], Any] | None = None
    for method in ("embed_documents", "get_text_embedding_batch"):
        bound = getattr(obj, method, None)
        if callable(bound) and not isinstance(obj, type):
            function = bound
            break
    if function is None and callable(obj) and not isinstance(obj, type):
        function = obj
    if function is None:
        raise TypeError(
            "as_embedder() expects an Embedder (name, dimension, embed), a LangChain "
            "Embeddings, a LlamaIndex BaseEmbedding, or a callable taking a list of texts "
            f"and returning one vector per text; got {_describe(obj)}"
        )
    return _CallableEmbedder(function, name or _default_name(obj))


def _describe(obj: object) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__qualname__} (pass an instance)"
    return f"an instance of {type(obj).__qualname__}"


def _default_name(obj: object) -> str:
    qualname = getattr(obj, "__qualname__", None)
    base = qualname if isinstance(qualname, str) else type(obj).__qualname__
    for attribute in ("model_name", "model"):
        model = getattr(obj, attribute, None)
        if isinstance(model, str) and model:
            return f"{base}:{model}"
    return base


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise InvalidInputError("embed() takes a sequence of texts, not one string: wrap it")
    items = list(texts)
    for position, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{position}] is {type(text).__name__}, not str")
    return items


def _l2_normalise(vectors: NDArray[np.float32]) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: Vectors = vectors / np.maximum(norms, np.float32(1e-12))
    return result
