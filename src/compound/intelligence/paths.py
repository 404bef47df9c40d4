"""Where prepared model files live on this machine (assembled GGUF weights, int8 ONNX graphs).

``$COMPOUND_MODELS`` when set, else ``~/.cache/compound/models`` (or under ``$XDG_CACHE_HOME``).
"""

from __future__ import annotations

import os
from pathlib import Path


def model_cache_dir() -> Path:
    """The folder prepared models are kept in (not created here)."""
    if env := os.environ.get("COMPOUND_MODELS"):
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "compound" / "models"
