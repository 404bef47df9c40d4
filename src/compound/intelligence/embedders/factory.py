"""Embedders by name, as a spec or the CLI names them: the classes registered under
``compound.embedders`` (:data:`compound.plugins.BUILTINS`, and third parties' entry points).

Example:
    >>> make_embedder("fake", dim=8).embed(["hello world"]).shape
    (1, 8)
"""

from __future__ import annotations

from typing import Any

from compound.errors import UserError
from compound.intelligence.embedders.base import Embedder
from compound.plugins import BUILTINS, load

GROUP = "compound.embedders"

#: The built-in names :func:`make_embedder` accepts.
EMBEDDERS = tuple(BUILTINS[GROUP])


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
    cls: type[Embedder] = load(GROUP, name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise UserError(f"embedder '{name}': {exc}; check its options") from None
