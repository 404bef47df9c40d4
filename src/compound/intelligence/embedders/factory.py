"""Embedders by name, as a spec or the CLI names them.

Example:
    >>> make_embedder("fake", dim=8).embed(["hello world"]).shape
    (1, 8)
"""

from __future__ import annotations

from typing import Any

from compound.errors import UserError
from compound.intelligence.embedders.base import Embedder
from compound.intelligence.embedders.fake import FakeEmbedder
from compound.intelligence.embedders.onnx import OnnxEmbedder

#: Names :func:`make_embedder` accepts.
EMBEDDERS = ("minilm", "fake")


def make_embedder(name: str = "minilm", **options: Any) -> Embedder:
    """An embedder from its name and keyword options.

    Args:
        name: ``minilm`` (:class:`OnnxEmbedder`, options: ``max_tokens``, ``batch_size``,
            ``threads``, ``quantize``, ``model_path``, ``tokenizer_path``) or ``fake``
            (:class:`FakeEmbedder`, option ``dim``).
        **options: passed to the class.

    Raises:
        UserError: an unknown name or option.
    """
    from compound.specfile import did_you_mean

    classes: dict[str, type[Embedder]] = {"minilm": OnnxEmbedder, "fake": FakeEmbedder}
    if name not in classes:
        raise UserError(
            f"unknown embedder '{name}'{did_you_mean(name, classes)}; "
            f"available: {', '.join(EMBEDDERS)}"
        )
    try:
        return classes[name](**options)
    except TypeError as exc:
        raise UserError(f"embedder '{name}': {exc}; check its options") from None
