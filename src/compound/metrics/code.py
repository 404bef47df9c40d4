"""Code that runs: execute generated Python, with its tests, in a subprocess sandbox.

The answer's code (the first fenced block if there is one) and the tests (the reference, or
the ``test`` option) are written to a fresh temporary folder and run by a separate Python in
isolated mode, with an empty environment, a wall-clock timeout and, on POSIX, limits on CPU
time, memory and file size. The row scores 1 when the process exits with status 0.

This isolates crashes, hangs and memory blow-ups from the eval. It is not a security
boundary against hostile code: run untrusted models' code in a container or VM as well.

Example:
    >>> code_runs("```python\\ndef add(a, b):\\n    return a + b\\n```",
    ...           "assert add(2, 3) == 5").value
    1.0
    >>> code_runs("while True: pass", None, timeout_s=0.5).reason
    'timed out after 0.5s'
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compound.metrics.base import Score, metric

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str:
    """The first fenced code block of ``text``, or all of it when there is none."""
    match = _FENCE.search(text or "")
    return match.group(1) if match else (text or "")


# Limits are set by the child itself, before it runs the answer: a preexec_fn is not safe in a
# parent with threads (the runner has several).
_BOOTSTRAP = """\
import resource, runpy, sys
cpu, memory = int(sys.argv[1]), int(sys.argv[2]) * 1024 * 1024
for limit, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, memory),
                     (resource.RLIMIT_FSIZE, 10 * 1024 * 1024)):
    try:
        resource.setrlimit(limit, (value, value))
    except (ValueError, OSError):
        pass
sys.argv = [sys.argv[3]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_sandboxed(
    code: str, *, timeout_s: float = 5.0, memory_mb: int = 512,
    files: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str] | None:
    """Run ``code`` in a sandboxed Python; None when it timed out.

    Args:
        code: the script, run as ``__main__`` from the scratch folder.
        timeout_s: wall-clock limit (the CPU limit is one second more).
        memory_mb: address-space limit.
        files: more files to write into the scratch folder first, by relative path (a copy
            of a repository to test, say). The folder is not on ``sys.path``: the script
            adds it (``sys.path.insert(0, os.path.dirname(__file__))``) to import them.

    Example:
        >>> run_sandboxed("import sys, os; sys.path.insert(0, os.path.dirname(__file__))\\n"
        ...               "import pkg.mod; print(pkg.mod.X)",
        ...               files={"pkg/__init__.py": "", "pkg/mod.py": "X = 7"}).stdout
        '7\\n'
    """
    with tempfile.TemporaryDirectory(prefix="compound-code-") as folder:
        root = Path(folder).resolve()
        for relative, text in (files or {}).items():
            path = (root / relative).resolve()
            if not path.is_relative_to(root) or path == root / "answer.py":
                raise ValueError(f"sandbox file {relative!r} is outside the scratch folder or "
                                 "is the script's own name; give a relative path inside it")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        script = Path(folder) / "answer.py"
        script.write_text(code, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0",
               "HOME": folder, "TMPDIR": folder}
        if os.name == "posix":
            command = [sys.executable, "-I", "-B", "-c", _BOOTSTRAP,
                       str(int(timeout_s) + 1), str(memory_mb), str(script)]
        else:
            command = [sys.executable, "-I", "-B", str(script)]
        try:
            # security: runs a model's answer on purpose (this metric's job), in a child Python
            # with -I, a scratch folder, a bare environment and CPU/memory/file limits; no shell
            return subprocess.run(
                command, cwd=folder, env=env, capture_output=True, text=True,
                timeout=timeout_s, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return None


@metric
def code_runs(
    prediction: str,
    reference: Any,
    *,
    test: str | None = None,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
) -> Score:
    """The answer's code runs, with the tests (reference or ``test``) passing."""
    code = extract_code(prediction)
    if not code.strip():
        return Score(0.0, "no code in the answer")
    tests = test if test is not None else (reference if isinstance(reference, str) else "")
    result = run_sandboxed(f"{code}\n\n{tests}\n", timeout_s=timeout_s, memory_mb=memory_mb)
    if result is None:
        return Score(0.0, f"timed out after {timeout_s:g}s")
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {result.returncode}"
        return Score(0.0, last[:300])
    return Score(1.0)
