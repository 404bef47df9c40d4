"""`compound init`: a new system's folder, ready for `compound up` as generated.

Each loop type gets a commented ``compound.yaml`` and what it needs to pass its own success
criteria with the embedded LLM (no API key, no download): a few help pages in ``docs/`` (an
example product's) and small datasets in ``data/``; no Python, every step is built in. The
files live in ``compound/scaffolds/files/``.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp()) / "faq"
    >>> made = create(folder, loop="interaction")
    >>> made.name, sorted(p.name for p in made.files)[:3]
    ('faq', ['account.md', 'billing.md', 'compound.yaml'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from compound.errors import UserError

Loop = Literal["interaction", "prediction", "hybrid"]
LOOPS: tuple[Loop, ...] = ("interaction", "prediction", "hybrid")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
PLACEHOLDER = "__NAME__"

_DOCS = ("docs/account.md", "docs/billing.md", "docs/export.md", "docs/sync.md")
_QUESTIONS = ("data/questions.jsonl",)
_TICKETS = ("data/tickets.jsonl", "data/tickets-test.jsonl")
#: what each loop type's folder holds besides compound.yaml (paths under files/)
FILES: dict[Loop, tuple[str, ...]] = {
    "interaction": (*_DOCS, *_QUESTIONS),
    "prediction": _TICKETS,
    "hybrid": (*_DOCS, *_QUESTIONS, *_TICKETS),
}
#: the next commands, per loop type, printed after the folder is written
FIRST_REQUEST: dict[Loop, tuple[str, str]] = {
    "interaction": ("answer", '{"question": "How much is the Pro plan?"}'),
    "prediction": ("route", '{"text": "I was charged twice this month"}'),
    "hybrid": ("answer", '{"question": "How do I export my notes as PDF?"}'),
}


@dataclass(frozen=True)
class Scaffold:
    """What :func:`create` wrote.

    Attributes:
        folder: the system's folder.
        name: the system's name (in ``compound.yaml``).
        loop: its loop type.
        files: every file written, ``compound.yaml`` first.
    """

    folder: Path
    name: str
    loop: Loop
    files: list[Path] = field(default_factory=list)


def create(folder: str | Path, *, loop: str = "interaction", name: str | None = None) -> Scaffold:
    """Write a new system into ``folder`` (created; it must not exist or be empty).

    Args:
        folder: where the system goes; its last part names the system unless ``name`` is set.
        loop: ``interaction`` (LLM-centred), ``prediction`` (ML) or ``hybrid``.
        name: the system's name; default the folder's name.

    Returns:
        the folder, the name and the files written.

    Raises:
        UserError: an unknown loop type, a name that is not a word, or a folder that holds
            files already.
    """
    from compound.specfile import did_you_mean

    if loop not in LOOPS:
        raise UserError(f"--loop must be one of {', '.join(LOOPS)}; received '{loop}'"
                        f"{did_you_mean(loop, LOOPS)}")
    chosen: Loop = loop  # type: ignore[assignment]
    target = Path(folder).expanduser()
    if target.suffix in (".yaml", ".yml"):
        raise UserError(f"'{folder}' looks like a file; 'compound init' takes the folder of the "
                        f"new system and writes compound.yaml inside it: run "
                        f"'compound init {target.parent / target.stem}'")
    system_name = name if name is not None else target.resolve().name
    if not NAME.match(system_name):
        raise UserError(f"the system name '{system_name}' must be a word of letters, digits, "
                        "'_' and '-' starting with a letter (it names the folder unless "
                        "--name is given); pass --name NAME or choose another folder")
    if target.exists() and not target.is_dir():
        raise UserError(f"{target} exists and is a file; choose a new folder for the system")
    if target.is_dir() and any(target.iterdir()):
        raise UserError(f"{target} already holds files; 'compound init' writes only into a new "
                        "or empty folder, so that nothing of yours is overwritten. Choose "
                        "another name, or empty the folder")
    source = resources.files("compound.scaffolds").joinpath("files")
    spec = source.joinpath(f"{chosen}.yaml").read_text(encoding="utf-8")
    target.mkdir(parents=True, exist_ok=True)
    made = Scaffold(target, system_name, chosen)
    spec_path = target / "compound.yaml"
    spec_path.write_text(spec.replace(PLACEHOLDER, system_name), encoding="utf-8")
    made.files.append(spec_path)
    for relative in FILES[chosen]:
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(source.joinpath(relative).read_bytes())
        made.files.append(out)
    return made
