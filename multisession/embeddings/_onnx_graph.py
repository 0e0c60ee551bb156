"""Build an ONNX graph for a BERT sentence encoder straight from ``model.safetensors``.

The graph is written with :mod:`onnx.helper`, so no torch is needed. It is the plain
BERT encoder that sentence-transformers runs for all-MiniLM-L6-v2: word + position +
token-type embeddings, LayerNorm, then transformer layers with exact (erf) GELU. The
inputs are ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, dynamic batch
and sequence axes); the output is ``last_hidden_state``. Pooling happens outside the
graph, so a file built here is interchangeable with Chroma's ``model.onnx``.

The bytes are deterministic: the same weights always give the same file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

from multisession.embeddings._model_files import GRAPH_VERSION

__all__ = ["BertShape", "build_bert_onnx", "build_from_directory", "quantize_int8"]

# Opset 17 has LayerNormalization; IR version 8 keeps the file loadable by every
# onnxruntime release that supports opset 17.
_OPSET = 17
_IR_VERSION = 8


@dataclass(frozen=True)
class BertShape:
    """The hyper-parameters the graph depends on (defaults: all-MiniLM-L6-v2)."""

    num_layers: int = 6
    num_heads: int = 12
    hidden_size: int = 384
    layer_norm_eps: float = 1e-12

    @property
    def head_size(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_heads


def read_bert_shape(weights: Mapping[str, np.ndarray], config_path: Path | None) -> BertShape:
    """Read the hyper-parameters from ``config.json`` when present, else from the weights.

    Args:
        weights: The tensors of ``model.safetensors``, keys without a ``bert.`` prefix.
        config_path: A Hugging Face ``config.json``, or ``None``.

    Returns:
        The shape of the encoder.

    Raises:
        ValueError: The config describes something this builder cannot express.
    """
    config: dict[str, Any] = {}
    if config_path is not None and config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
    activation = config.get("hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(f"unsupported hidden_act {activation!r}: only exact 'gelu' is built")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    hidden_size = int(weights["embeddings.word_embeddings.weight"].shape[1])
    num_layers = sum(1 for key in weights if key.endswith(".attention.self.query.weight"))
    shape = BertShape(
        num_layers=int(config.get("num_hidden_layers", num_layers)),
        num_heads=int(config.get("num_attention_heads", BertShape.num_heads)),
        hidden_size=int(config.get("hidden_size", hidden_size)),
        layer_norm_eps=float(config.get("layer_norm_eps", BertShape.layer_norm_eps)),
    )
    if shape.hidden_size != hidden_size or shape.num_layers != num_layers:
        raise ValueError(
            f"config.json says {shape.num_layers} layers of width {shape.hidden_size}, "
            f"the weights hold {num_layers} of width {hidden_size}"
        )
    if shape.hidden_size % shape.num_heads:
        raise ValueError(f"hidden size {shape.hidden_size} is not divisible by the head count")
    return shape


def load_bert_weights(safetensors_path: Path) -> dict[str, np.ndarray]:
    """Load ``model.safetensors`` as float32 arrays, dropping a ``bert.`` key prefix."""
    weights = load_file(os.fspath(safetensors_path))
    return {key.removeprefix("bert."): value for key, value in weights.items()}


class _GraphWriter:
    """Accumulates nodes and initializers with deterministic names."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self._weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def weight(self, key: str, *, transpose: bool = False) -> str:
        """Add a checkpoint tensor (Linear weights transposed to ``x @ W``)."""
        value = np.asarray(self._weights[key], dtype=np.float32)
        return self.constant(key, value.T if transpose else value)

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        self._count += 1
        output = f"{op_type.lower()}_{self._count}"
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [output], name=output, **attributes)
        )
        return output

    def linear(self, x: str, prefix: str) -> str:
        product = self.op("MatMul", x, self.weight(f"{prefix}.weight", transpose=True))
        return self.op("Add", product, self.weight(f"{prefix}.bias"))

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        return self.op(
            "LayerNormalization",
            x,
            self.weight(f"{prefix}.weight"),
            self.weight(f"{prefix}.bias"),
            axis=-1,
            epsilon=eps,
        )


def build_bert_onnx(weights: Mapping[str, np.ndarray], shape: BertShape | None = None) -> bytes:
    """Serialise a BERT encoder graph holding ``weights``.

    Args:
        weights: Tensors named as in a Hugging Face ``BertModel`` checkpoint.
        shape: Hyper-parameters; defaults to all-MiniLM-L6-v2's.

    Returns:
        The ``model.onnx`` bytes, identical for identical weights.

    Raises:
        KeyError: A tensor the graph needs is missing from ``weights``.
    """
    shape = shape or BertShape()
    g = _GraphWriter(weights)
    f32 = np.float32

    zero = g.constant("const_zero_i64", np.array([0], dtype=np.int64))
    head_shape = g.constant(
        "const_head_shape", np.array([0, 0, shape.num_heads, shape.head_size], dtype=np.int64)
    )
    merged_shape = g.constant("const_merged_shape", np.array([0, 0, shape.hidden_size], np.int64))
    scale = g.constant("const_attention_scale", np.array(1 / math.sqrt(shape.head_size), f32))
    mask_fill = g.constant("const_mask_fill", np.array(np.finfo(f32).min, f32))
    float_one = g.constant("const_one_f32", np.array(1.0, f32))
    half = g.constant("const_half_f32", np.array(0.5, f32))
    inv_sqrt2 = g.constant("const_inv_sqrt2_f32", np.array(1 / math.sqrt(2.0), f32))
    unsqueeze_axes = g.constant("const_mask_axes", np.array([1, 2], dtype=np.int64))

    # Embeddings: positions are 0..seq_len-1 for every row, as in BertModel, so the
    # position vectors are the first seq_len rows of the table.
    words = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids")
    seq_len = g.op("Shape", "input_ids", start=1, end=2)
    position_table = g.weight("embeddings.position_embeddings.weight")
    position_vectors = g.op("Slice", position_table, zero, seq_len, zero)
    type_vectors = g.op(
        "Gather", g.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"
    )
    summed = g.op("Add", g.op("Add", words, position_vectors), type_vectors)
    hidden = g.layer_norm(summed, "embeddings.LayerNorm", shape.layer_norm_eps)

    # Additive mask (batch, 1, 1, seq): 0 for tokens, float32 min for padding.
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    inverted = g.op("Sub", float_one, mask)
    additive_mask = g.op("Unsqueeze", g.op("Mul", inverted, mask_fill), unsqueeze_axes)

    for index in range(shape.num_layers):
        prefix = f"encoder.layer.{index}"

        def heads(x: str, perm: list[int]) -> str:
            return g.op("Transpose", g.op("Reshape", x, head_shape), perm=perm)

        query = heads(g.linear(hidden, f"{prefix}.attention.self.query"), [0, 2, 1, 3])
        key = heads(g.linear(hidden, f"{prefix}.attention.self.key"), [0, 2, 3, 1])
        value = heads(g.linear(hidden, f"{prefix}.attention.self.value"), [0, 2, 1, 3])
        scores = g.op("Mul", g.op("MatMul", query, key), scale)
        probabilities = g.op("Softmax", g.op("Add", scores, additive_mask), axis=-1)
        context = g.op("Transpose", g.op("MatMul", probabilities, value), perm=[0, 2, 1, 3])
        context = g.op("Reshape", context, merged_shape)
        attended = g.linear(context, f"{prefix}.attention.output.dense")
        hidden = g.layer_norm(
            g.op("Add", attended, hidden),
            f"{prefix}.attention.output.LayerNorm",
            shape.layer_norm_eps,
        )

        # Exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))).
        inner = g.linear(hidden, f"{prefix}.intermediate.dense")
        erf = g.op("Erf", g.op("Mul", inner, inv_sqrt2))
        gelu = g.op("Mul", g.op("Mul", inner, half), g.op("Add", erf, float_one))
        projected = g.linear(gelu, f"{prefix}.output.dense")
        hidden = g.layer_norm(
            g.op("Add", projected, hidden), f"{prefix}.output.LayerNorm", shape.layer_norm_eps
        )

    g.nodes.append(helper.make_node("Identity", [hidden], ["last_hidden_state"], name="output"))
    token_axes: list[str | int | None] = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes,
        "bert_encoder",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, token_axes)
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, [*token_axes, shape.hidden_size]
            )
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="multisession",
        producer_version=str(GRAPH_VERSION),
    )
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    serialized: bytes = model.SerializeToString()
    return serialized


def build_from_directory(model_dir: Path) -> bytes:
    """Build ``model.onnx`` bytes from ``model_dir/model.safetensors`` (and ``config.json``).

    Args:
        model_dir: A directory holding a Hugging Face BERT checkpoint.

    Returns:
        The serialised graph.
    """
    weights = load_bert_weights(model_dir / "model.safetensors")
    shape = read_bert_shape(weights, model_dir / "config.json")
    return build_bert_onnx(weights, shape)


def quantize_int8(model: Path | bytes) -> bytes:
    """Quantize a float32 graph to int8 weights with onnxruntime's dynamic quantizer.

    Weights become int8 once, here, with one scale per output channel (a single scale
    per tensor moved sentence vectors about four times further from the float32 ones);
    activations are quantized on the fly at run time, so no calibration data is needed.
    The file is about a quarter of the float32 one.

    Args:
        model: A float32 ``model.onnx`` file, or its bytes.

    Returns:
        The serialised int8 graph.
    """
    import logging
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs advice through the root logger; a library must neither print
    # it nor let logging.warning() install a root handler in the application.
    root = logging.getLogger()
    guard = logging.NullHandler()
    root.addHandler(guard)
    previous = root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="multisession-quantize-") as scratch:
            source = Path(scratch) / "float32.onnx"
            if isinstance(model, bytes):
                source.write_bytes(model)
            else:
                source = model
            target = Path(scratch) / "int8.onnx"
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
            return target.read_bytes()
    finally:
        logging.disable(previous)
        root.removeHandler(guard)
