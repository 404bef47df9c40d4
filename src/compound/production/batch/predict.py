"""Batch predictions: a predictor or a workflow over every row of a file, in chunks.

Each output row is its input row with the answer added: a predictor's ``prediction`` (the
label, or the value for regression and ranking) and ``probability``; a workflow's ``output``
(its output record). A row that fails is written too, with its ``error`` (the exception's
type and message) and no answer: one bad row never stops the others. A row whose input is
malformed stops the run with the file and line (:mod:`~compound.production.batch.files`).

Example:
    >>> import tempfile, pathlib
    >>> from compound.system import System
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Greet.
    ... models:
    ...   llm: {kind: llm, provider: scripted, options: {replies: ["Hello!"]}}
    ... workflows:
    ...   greet:
    ...     input: {name: str}
    ...     steps:
    ...       - {name: hello, uses: llm, options: {template: "Greet {name}."}}
    ... ''')
    >>> _ = (folder / "in.jsonl").write_text('{"name": "Ada"}\\n{"name": "Alan"}\\n')
    >>> done = predict_file(BatchModel(system, "greet"), folder / "in.jsonl",
    ...                     folder / "out.jsonl", progress=False)
    >>> import json
    >>> first = json.loads((folder / "out.jsonl").read_text().splitlines()[0])
    >>> done.rows, done.errors, first["name"], first["output"]["text"], first["error"]
    (2, 0, 'Ada', 'Hello!', None)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError
from compound.production.batch.files import ChunkWriter, count_rows, file_format, read_chunks

if TYPE_CHECKING:
    from compound.system import System

Kind = Literal["predictor", "workflow"]
#: The fields each kind adds to a row.
OUTPUT_FIELDS: dict[Kind, tuple[str, ...]] = {
    "predictor": ("prediction", "probability", "error"),
    "workflow": ("output", "error"),
}
#: Rows per chunk: what one actor gets at a time, and what a predictor scores together.
CHUNK_ROWS = 256

ChunkRunner = Callable[[Iterable[list[dict[str, Any]]]], Iterator[list[dict[str, Any]]]]


class BatchModel:
    """What `compound predict` runs: the predictor or the workflow ``name`` of ``system``.

    Args:
        system: the loaded spec.
        name: a predictor under ``models`` (its production version) or a workflow under
            ``workflows`` (each row is one input of it).

    Raises:
        UserError: ``name`` is neither.
    """

    def __init__(self, system: System, name: str) -> None:
        from compound.specfile import did_you_mean

        self.system = system
        self.name = name
        if name in system.predictors():
            self.kind: Kind = "predictor"
        elif name in system.workflows:
            self.kind = "workflow"
        else:
            known = [*system.predictors(), *system.workflows]
            hint = (" (an LLM: declare a workflow with one step that uses it)"
                    if name in system.llms() else did_you_mean(name, known))
            raise UserError(f"'{name}' is neither a predictor nor a workflow of "
                            f"{system.source or system.name}{hint}; predictors: "
                            f"{', '.join(system.predictors()) or 'none'}; workflows: "
                            f"{', '.join(system.workflows) or 'none'}")
        self._component: Any = None
        self._fields: tuple[str, ...] | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields each output row gets beyond its input's."""
        return OUTPUT_FIELDS[self.kind]

    def load(self) -> None:
        """Load the model (or build and warm the workflow up). Idempotent."""
        if self._component is not None:
            return
        if self.kind == "predictor":
            from compound.intelligence.ml.predictor import Predictor

            self._component = Predictor.from_system(self.system, self.name)
            return
        from compound.workflow.loader import build_workflow
        from compound.workflow.warmup import warm_up

        flow = build_workflow(self.system, self.name)
        warm_up(flow)
        self._fields = _input_fields(flow.input_type)
        self._component = flow

    def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each row with its answer, or its error, added (in order)."""
        self.load()
        if self.kind == "predictor":
            return self._predict_rows(rows)
        return [self._run_workflow(row) for row in rows]

    def _predict_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        predictor = self._component
        typed = [self._typed(row) for row in rows]
        try:
            found: list[Any] = predictor.predict_batch(typed)
        except Exception:  # some row is wrong: score them one by one to say which
            found = []
            for row in typed:
                try:
                    found.append(predictor.run(row))
                except Exception as exc:
                    found.append(exc)
        out = []
        for row, prediction in zip(rows, found, strict=True):
            if isinstance(prediction, Exception):
                out.append({**row, "prediction": None, "probability": None,
                            "error": _error(prediction)})
                continue
            answer = prediction.label if prediction.label is not None else prediction.value
            out.append({**row, "prediction": answer, "probability": prediction.probability,
                        "error": None})
        return out

    def _typed(self, row: dict[str, Any]) -> dict[str, Any]:
        """A CSV row's numeric features as numbers (CSV cells are text); others as they are."""
        kinds = self._component.model.schema.kinds
        typed = dict(row)
        for name, value in row.items():
            if kinds.get(name) == "numeric" and isinstance(value, str):
                # not a number: left as text, and the model says which feature holds it
                with contextlib.suppress(ValueError):
                    typed[name] = float(value) if value.strip() else None
        return typed

    def _run_workflow(self, row: dict[str, Any]) -> dict[str, Any]:
        from compound.json_values import to_json

        fields = self._fields
        inputs = row if fields is None else {k: v for k, v in row.items() if k in fields}
        try:
            result = self._component.run(inputs)
            return {**row, "output": to_json(result.output), "error": None}
        except Exception as exc:  # a failing row is recorded, not fatal
            return {**row, "output": None, "error": _error(exc)}


@dataclass(frozen=True)
class PredictSummary:
    """What a batch prediction did: rows written, rows with an error, and how long it took."""

    output: Path
    rows: int
    errors: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def predict_file(
    model: BatchModel,
    source: str | Path,
    output: str | Path,
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = True,
    run_chunks: ChunkRunner | None = None,
) -> PredictSummary:
    """Predict every row of ``source`` and write them to ``output``, chunk by chunk.

    Args:
        model: the predictor or workflow (loaded here when ``run_chunks`` is None).
        source: a ``.jsonl``, ``.csv`` or ``.parquet`` file of input rows.
        output: where the rows go, in its extension's format (written at the end under
            this name; ``NAME.partial`` until then).
        chunk_rows: rows read, predicted and written together.
        progress: a Rich progress bar on stderr.
        run_chunks: what predicts the chunks, in order (Ray actors,
            :class:`compound.scale.predict.RayChunks`); ``model.predict`` here by default.

    Raises:
        UserError: a bad file name or format, a malformed input line (file and line), an
            input field named like an output field, or the model's own user errors.
    """
    source, output = Path(source), Path(output)
    file_format(source, role="input")
    file_format(output, role="output")
    if source.resolve() == output.resolve():
        raise UserError(f"{output}: the output would overwrite the input; name another file")
    started = time.perf_counter()
    if run_chunks is None:
        model.load()

        def run_chunks(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
            return (model.predict(chunk) for chunk in chunks)

    chunks = _checked(read_chunks(source, size=chunk_rows), model.fields, source)
    errors = 0
    with _Bar(progress, f"{model.name}: {source.name} -> {output.name}",
              count_rows(source)) as bar, ChunkWriter(output) as writer:
        for done in run_chunks(chunks):
            writer.write(done)
            failed = sum(row.get("error") is not None for row in done)
            errors += failed
            bar.advance(len(done), errors)
    return PredictSummary(output=output, rows=writer.rows, errors=errors,
                          seconds=time.perf_counter() - started)


def _checked(chunks: Iterator[list[dict[str, Any]]], fields: tuple[str, ...], source: Path
             ) -> Iterator[list[dict[str, Any]]]:
    """The chunks, once the first showed no input field that an output field would
    overwrite."""
    first = True
    for chunk in chunks:
        if first:
            taken = [f for f in fields if any(f in row for row in chunk)]
            if taken:
                raise UserError(f"{source}: the input has a field '{taken[0]}', which predict "
                                f"writes (it adds {', '.join(fields)}); rename that field")
            first = False
        yield chunk


def _input_fields(input_type: Any) -> tuple[str, ...] | None:
    """The fields a workflow's typed input takes (other columns, an id, are not passed);
    None for an untyped input."""
    import dataclasses

    if dataclasses.is_dataclass(input_type):
        return tuple(f.name for f in dataclasses.fields(input_type))
    found = getattr(input_type, "model_fields", None)
    if isinstance(found, Mapping):
        return tuple(found)
    return None


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class _Bar:
    """A Rich progress bar on stderr counting rows and errors."""

    def __init__(self, enabled: bool, title: str, total: int) -> None:
        self.enabled = enabled
        self.title = title
        self.total = total
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            from compound.console import row_progress

            self._progress = row_progress()
            self._progress.__enter__()
            self._task = self._progress.add_task(self.title, total=self.total or None,
                                                 status="")
        return self

    def advance(self, rows: int, errors: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=rows,
                                  status=f"{errors} errors" if errors else "")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            done = self._progress.tasks[0].completed
            self._progress.update(self._task, total=done)  # a CSV count was an upper bound
            self._progress.__exit__(*exc)
