"""The `compound` command. Each area of the framework owns a module of commands here; this
module builds the Typer app from them and turns compound's errors into exit codes:

* 0: done; 1: a runtime failure or a failed gate; 2: a user error (bad spec, bad argument).
"""

from __future__ import annotations

import importlib
import io
import sys

import typer

from compound.errors import RuntimeFailure, UserError

app = typer.Typer(
    name="compound",
    help=(
        "Build, evaluate, serve and improve compound AI systems (ML models and LLMs together) "
        "declared in a compound.yaml."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)

# Modules that add commands to `app` when imported. An area adds its module here.
COMMAND_MODULES = [
    "compound.cli.system",
    "compound.cli.models",
    "compound.cli.ml",
    "compound.cli.prompts",
    "compound.cli.ask",
    "compound.cli.evaluation",
    "compound.cli.datasets_fetch",
    "compound.cli.workflow",
    "compound.cli.retrieval",
    "compound.cli.strategy",
    "compound.cli.guard",
    "compound.cli.serve",
    "compound.cli.model_server",
    "compound.cli.lifecycle",
    "compound.cli.flywheel",
    "compound.cli.finetune",
    "compound.cli.scale",
    "compound.cli.mcp",
]


def build() -> typer.Typer:
    """Import every command module so that `app` holds all commands."""
    for name in COMMAND_MODULES:
        importlib.import_module(name)  # security: names from COMMAND_MODULES above only
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `compound` console script."""
    from compound.console import console_err, show_logs, styled

    show_logs()
    build()
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:  # a typer.Exit(code) returns its code here
            sys.exit(code)
    except UserError as exc:
        console_err.print(styled("[bold red]error:[/] {exc}", exc=exc))
        sys.exit(2)
    except RuntimeFailure as exc:
        console_err.print(styled("[bold red]failed:[/] {exc}", exc=exc))
        sys.exit(1)
    except KeyboardInterrupt:
        console_err.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click's own usage errors arrive here in standalone_mode=False
        # typer may carry its own copy of click, so match click's exceptions by what they do
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):  # a usage error: bad option, argument
            message = io.StringIO()  # it may quote argv: printed through our console, not raw
            show(file=message)
            console_err.print(message.getvalue(), end="")
            sys.exit(code)
        if any(cls.__name__ == "Abort" for cls in type(exc).__mro__):
            console_err.print("aborted")
            sys.exit(1)
        raise
