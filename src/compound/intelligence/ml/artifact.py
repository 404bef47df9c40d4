"""The artifact of a trained model: one zip file that loads without running untrusted code.

Layout::

    manifest.json         format, task, learner, params, feature schema, classes,
                          calibrator parameters, embedder, library versions
    text_linear.skops     scikit-learn objects, in skops format (text learner)
    lightgbm.txt          LightGBM's own text format (tree learners)

The trust boundary: compound never unpickles an artifact. JSON and LightGBM's text format hold
no code; skops files are loaded with skops' default trusted types only (scikit-learn, numpy,
scipy), and an artifact that needs any other type is refused. A model registered by someone
you do not trust can still be wrong, but it cannot run code on load.

Every read problem (a truncated blob, a damaged zip, a missing part, a type outside the trust
boundary) is an :class:`ArtifactError` naming what was wrong and what to do.

Example:
    >>> data = pack({"format": FORMAT, "task": "regression"}, {"x.txt": b"1"})
    >>> manifest, parts = unpack(data, what="demo@1")
    >>> manifest["task"], parts["x.txt"]
    ('regression', b'1')
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

from compound.errors import RuntimeFailure, UserError, require
from compound.expansion_limits import read_zip

FORMAT = "compound-model/1"
MANIFEST = "manifest.json"


class ArtifactError(RuntimeFailure):
    """A model artifact is missing, damaged, or outside the trust boundary."""


def pack(manifest: Mapping[str, Any], parts: Mapping[str, bytes]) -> bytes:
    """Zip a manifest and the learner's parts into artifact bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, sort_keys=True, allow_nan=False))
        for name, data in parts.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def unpack(data: bytes, *, what: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the parts of artifact bytes.

    Args:
        data: the artifact.
        what: names the model in messages (e.g. ``intent@3``).

    Raises:
        ArtifactError: not a readable artifact of a format this compound knows.
    """
    advice = ("retrain it with 'compound train', or roll back with "
              "'compound models rollback' to the previous version")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if MANIFEST not in names:
                raise ArtifactError(f"artifact of {what} has no {MANIFEST}; {advice}")
            parts = read_zip(zf, source=f"artifact of {what}")  # bounded: no zip bomb
            manifest = json.loads(parts.pop(MANIFEST))
    except ArtifactError:
        raise
    except UserError as exc:  # past the expansion limit
        raise ArtifactError(f"{exc}; {advice}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise ArtifactError(f"artifact of {what} is corrupt ({exc}); {advice}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ArtifactError(
            f"artifact of {what} has format {found!r}; this compound reads {FORMAT!r}. "
            f"Upgrade compound, or {advice}"
        )
    return manifest, parts


def part(parts: Mapping[str, bytes], name: str) -> bytes:
    """One named part, or an :class:`ArtifactError` saying it is missing."""
    if name not in parts:
        raise ArtifactError(
            f"the artifact lacks its '{name}' part (has: {', '.join(sorted(parts)) or 'none'})"
        )
    return parts[name]


def skops_dumps(obj: Any) -> bytes:
    """scikit-learn objects as skops bytes."""
    sio: Any = require("skops.io", extra="ml", what="Saving scikit-learn models")
    return bytes(sio.dumps(obj))


def skops_loads(data: bytes, *, what: str) -> Any:
    """Load skops bytes, trusting only skops' default types.

    Raises:
        ArtifactError: the bytes are not skops, or need a type outside the trust boundary.
    """
    sio: Any = require("skops.io", extra="ml", what="Loading scikit-learn models")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises several types for bytes that are not its format
        raise ArtifactError(f"{what} is not a readable skops file ({exc})") from None
    if untrusted:
        raise ArtifactError(
            f"{what} needs types outside compound's trust boundary: {', '.join(untrusted)}. "
            "compound loads only scikit-learn, numpy and scipy types from skops files; retrain "
            "the model with this compound instead of loading an artifact from elsewhere"
        )
    try:
        return sio.loads(data)
    except Exception as exc:
        raise ArtifactError(f"{what} cannot be loaded ({type(exc).__name__}: {exc})") from None
