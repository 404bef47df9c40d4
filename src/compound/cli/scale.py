"""`compound predict` (batch inference over a file), and the `--on` / `--actors` options that
`eval`, `predict`, `train` and `improve` share to run on Ray.

Exit codes of `compound predict`: 0 every row written (rows that failed carry their
``error``); 2 a user error (bad file, malformed line, unknown model).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compound.cli import app
from compound.console import console_err, styled
from compound.scale.cluster import DEFAULT_ACTORS

if TYPE_CHECKING:
    from compound.intelligence.ml.crossfit import FanOut

ON_OPTION = Annotated[
    str | None,
    typer.Option("--on", help="run on Ray: 'ray' starts a local Ray for the command, "
                 "'ray://HOST:PORT' connects to a cluster (pip install 'compound[ray]')"),
]
ACTORS_OPTION = Annotated[
    int, typer.Option(help="with --on: Ray actors, each loading the system once", min=1)
]


@contextmanager
def fanned_out(on: str | None) -> Iterator[FanOut | None]:
    """Ray tasks for training's folds while the block runs, when ``--on`` asks; else None
    (the folds are fitted here, one after the other)."""
    if on is None:
        yield None
        return
    from compound.scale.cluster import RayCluster
    from compound.scale.fan_out import RayFanOut

    with RayCluster(on):
        yield RayFanOut()


@app.command()
def predict(
    spec: Annotated[Path, typer.Argument(help="a compound.yaml, or a folder holding one",
                                         show_default=False)],
    model: Annotated[str, typer.Argument(
        help="a predictor under 'models' (its production version) or a workflow under "
        "'workflows' (each row is one input)")],
    input: Annotated[Path, typer.Option(
        "--input", "-i", help="the rows: .jsonl, .csv or .parquet")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="where the rows go, with their answers; the format follows "
        "the extension (.jsonl, .csv, .parquet)")],
    chunk: Annotated[int, typer.Option(help="rows read, predicted and written together",
                                       min=1)] = 256,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    on: ON_OPTION = None,
    actors: ACTORS_OPTION = DEFAULT_ACTORS,
) -> None:
    """Predict every row of a file with a predictor or a workflow, streamed in chunks; a row
    that fails is written with its error."""
    from compound.production.batch.predict import BatchModel, predict_file
    from compound.system import System

    system = System.load(spec)
    batch = BatchModel(system, model)
    if on is None:
        done = predict_file(batch, input, output, chunk_rows=chunk, progress=progress)
    else:
        from compound.scale.cluster import RayCluster
        from compound.scale.predict import RayChunks

        with RayCluster(on, cpus=actors), RayChunks(spec, model, actors=actors) as chunks:
            done = predict_file(batch, input, output, chunk_rows=chunk, progress=progress,
                                run_chunks=chunks)
    failed = styled(", [yellow]{n} with an error[/] (see the 'error' field)", n=done.errors
                    ) if done.errors else ""
    console_err.print(styled("wrote {rows} rows to {path} in {s:.1f}s ({rate:.0f} rows/s)",
                             rows=done.rows, path=str(done.output), s=done.seconds,
                             rate=done.rows_per_s), failed, sep="")
