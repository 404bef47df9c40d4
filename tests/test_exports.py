"""The public surface is deliberate: nothing becomes public by accident."""

from __future__ import annotations

import subprocess
import sys

import compound


def test_exported_names_are_exactly_the_declared_ones() -> None:
    assert set(compound.__all__) == {*compound._EXPORTS, "__version__"}
    for name in compound.__all__:
        assert getattr(compound, name) is not None, name


def test_import_compound_does_not_import_heavy_dependencies() -> None:
    code = (
        "import sys, compound; "
        "heavy = [m for m in ('llama_cpp', 'numpy', 'sklearn', 'onnxruntime', 'openai', "
        "'anthropic', 'typer') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
