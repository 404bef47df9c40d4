"""`compound ingest`, `compound search` and `compound bench retrieval`: the document index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compound.cli import app
from compound.console import console, console_err, plain, styled

if TYPE_CHECKING:
    from compound.orchestration.retrieval.index import Progress
    from compound.system import System

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]
RETRIEVER_OPT = Annotated[
    str | None,
    typer.Option("--retriever", "-r", help="which retriever (needed when the spec has several)"),
]

bench_app = typer.Typer(help="Benchmarks that print their figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _pick_retriever(system: System, name: str | None) -> str:
    from compound.errors import UserError
    from compound.orchestration.retrieval.build import retriever_spec

    if name is not None:
        retriever_spec(system, name)
        return name
    if len(system.retrievers) == 1:
        return next(iter(system.retrievers))
    if not system.retrievers:
        raise UserError(
            f"system '{system.name}' declares no retrievers; add one under 'retrievers:' "
            "(e.g. 'docs: {kind: hybrid, documents: [docs/]}')"
        )
    raise UserError(
        f"system '{system.name}' has several retrievers ({', '.join(system.retrievers)}); "
        "choose one with --retriever"
    )


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """A Rich progress bar on stderr, as an index progress callback."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    labels = {"documents": "documents", "embedding": "chunks embedded", "lexical": "BM25 index"}
    with Progress(TextColumn("{task.description:>16}", markup=False), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console_err,
                  transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@app.command()
def ingest(
    spec: SPEC_ARG,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="files or folders; default the retriever's 'documents'",
                       show_default=False),
    ] = None,
    retriever: RETRIEVER_OPT = None,
    delete: Annotated[
        list[str] | None, typer.Option("--delete", help="remove a document by id (repeatable)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Add documents to a retriever's index; unchanged documents cost nothing."""
    from compound.errors import UserError
    from compound.orchestration.ingest import read_documents
    from compound.orchestration.retrieval.build import open_index
    from compound.system import System

    system = System.load(spec)
    name = _pick_retriever(system, retriever)
    retriever_spec = system.retrievers[name]
    sources = [Path(p) for p in paths] if paths else [
        system.resolve_path(d) for d in retriever_spec.documents
    ]
    if not sources and not delete:
        raise UserError(
            f"nothing to ingest: give PATHs, or list them under retrievers.{name}.documents"
        )
    index = open_index(system, name)
    limit = int(retriever_spec.chunking.max_document_mb * 2**20)
    with _progress_bar(not as_json) as progress:
        index.open(progress)
        items = list(read_documents(sources, base_dir=system.base_dir,
                                    max_document_bytes=limit)) if sources else []
        report = index.ingest(items, progress=progress, total=len(items))
        if delete:
            removed = index.delete(delete, progress=progress)
            report.deleted += removed.deleted
    stats = index.stats()
    index.close()
    payload = {
        "retriever": name, "added": report.added, "updated": report.updated,
        "unchanged": report.unchanged, "deleted": report.deleted, "chunks": report.chunks,
        "embedded": report.embedded, "skipped": sum(p.skipped for p in report.problems),
        "problems": [str(p) for p in report.problems], "notes": index.notes,
        "seconds": {k: round(v, 2) for k, v in report.seconds.items()}, "index": stats,
    }
    if as_json:
        console.print_json(json.dumps(payload))
        return
    for line in index.notes:
        console_err.print(styled("[yellow]note:[/] {line}", line=line))
    for problem in report.problems[:20]:
        console_err.print(plain(problem, style="yellow"))
    if len(report.problems) > 20:
        console_err.print(f"... and {len(report.problems) - 20} more problems (see --json)")
    console.print(
        styled("[bold]{name}[/]: ", name=name),
        f"{report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.deleted} deleted, "
        f"{payload['skipped']} skipped; {report.chunks} chunks written, "
        f"{report.embedded} embedded. Index: {stats['documents']} documents, "
        f"{stats['chunks']} chunks in {stats['folder']}"
    )


def _parse_filters(values: list[str]) -> dict[str, Any]:
    from compound.errors import UserError

    filters: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise UserError(
                f"--filter takes FIELD=VALUE (e.g. source=docs/a.md); received {value!r}"
            )
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        filters[key] = parsed
    return filters


@app.command()
def search(
    spec: SPEC_ARG,
    query: Annotated[str, typer.Argument(help="what to look for", show_default=False)],
    retriever: RETRIEVER_OPT = None,
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", help="hits to show")] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="FIELD=VALUE metadata condition (repeatable)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the hits as JSON")] = False,
) -> None:
    """Search a retriever's index: a table of hits with scores and sources."""
    from rich.table import Table

    from compound.orchestration.retrieval.build import build_retriever, open_index
    from compound.system import System

    system = System.load(spec)
    name = _pick_retriever(system, retriever)
    index = open_index(system, name)
    component = build_retriever(system, name, index=index)
    result = component.run(query, top_k=top_k, filters=_parse_filters(filters or []))
    if as_json:
        console.print_json(json.dumps({
            "query": query, "notes": result.notes + index.notes, "timings_ms": result.timings_ms,
            "hits": [{"rank": h.rank, "score": h.score, "chunk_id": h.chunk_id,
                      "doc_id": h.doc_id, "title": h.title, "source": h.source,
                      "heading": h.heading, "scores": dict(h.scores), "text": h.text}
                     for h in result.hits],
        }, default=str))
        index.close()
        return
    for line in [*index.notes, *result.notes]:
        console_err.print(styled("[yellow]note:[/] {line}", line=line))
    table = Table(title=f"{name}: {query}", title_justify="left")
    for column in ("#", "score", "document", "source", "text"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        snippet = " ".join(hit.text.split())
        table.add_row(str(hit.rank), f"{hit.score:.4f}", hit.title or hit.doc_id,
                      f"{hit.source}" + (f" > {hit.heading}" if hit.heading else ""),
                      snippet[:160] + ("…" if len(snippet) > 160 else ""))
    console.print(table)
    if not result.hits:
        console.print("no hits" + (" (the index is empty: run 'compound ingest')"
                                   if index.stats()["chunks"] == 0 else ""))
    index.close()


@bench_app.command("retrieval")
def bench_retrieval(
    dataset: Annotated[Path, typer.Option(
        "--dataset", help="a BEIR-layout folder, or HotpotQA (dev500.jsonl or its folder)")],
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON figures")] = False,
    max_queries: Annotated[
        int | None, typer.Option(help="score only the first N judged queries")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="embedder truncation, in word pieces")] = 256,
    quantize: Annotated[str, typer.Option(help="none (the float graph) or dynamic-int8")] = "none",
    threads: Annotated[int | None, typer.Option(help="embedder threads")] = None,
    batch_size: Annotated[int, typer.Option(help="texts per forward pass")] = 1,
    long_text: Annotated[str, typer.Option(
        help="a document longer than max_tokens: windows (scored by its best), or cut")
    ] = "windows",
    stride: Annotated[int, typer.Option(help="word pieces shared by adjacent windows")] = 64,
    reranker: Annotated[str | None, typer.Option(
        help="also rerank the hybrid's first hits: llm (the embedded default LLM grades "
             "each passage) or overlap (query words found, a baseline)")] = None,
    rerank_candidates: Annotated[int, typer.Option(
        min=1, help="hybrid hits the reranker reorders")] = 10,
    rerank_queries: Annotated[int, typer.Option(
        min=1, help="the reranker runs on the first N queries (an LLM grades one passage "
                    "per call)")] = 30,
) -> None:
    """BM25 (and plain bm25s), dense and hybrid on a BEIR dataset or pooled HotpotQA: quality,
    index time and throughput; with --reranker, the hybrid reranked beside it."""
    from compound.errors import UserError
    from compound.intelligence.embedders import OnnxEmbedder
    from compound.orchestration.retrieval.bench import run_retrieval_bench
    from compound.orchestration.retrieval.rerank import (
        LLMReranker,
        OverlapReranker,
        Reranker,
    )

    if long_text not in ("cut", "windows"):
        raise UserError(f"--long-text must be 'cut' or 'windows'; received {long_text!r}")
    second: Reranker | None = None
    if reranker == "overlap":
        second = OverlapReranker()
    elif reranker == "llm":
        from compound.intelligence.llm.embedded import EmbeddedLLM

        second = LLMReranker(EmbeddedLLM())
    elif reranker is not None:
        raise UserError(f"--reranker must be 'llm' or 'overlap'; received {reranker!r}")
    embedder = OnnxEmbedder(max_tokens=max_tokens, quantize=quantize,  # type: ignore[arg-type]
                            threads=threads, batch_size=batch_size, stride=stride)
    with _progress_bar(True) as progress:
        results = run_retrieval_bench(
            dataset, embedder=embedder, max_queries=max_queries, progress=progress,
            long_text=long_text,  # type: ignore[arg-type]
            reranker=second, rerank_candidates=rerank_candidates, rerank_queries=rerank_queries,
            note=None if as_json else (lambda line: console_err.print(line)),
        )
    if as_json:
        console.print_json(json.dumps(results))
        return
    from rich.table import Table

    table = Table(title=f"retrieval on {results['dataset']}", title_justify="left")
    for column in ("retriever", "nDCG@10", "Recall@100", "MRR@10", "queries/s"):
        table.add_column(column, justify="right")
    for name in ("bm25", "bm25_plain", "dense", "hybrid_weighted", "hybrid_rrf"):
        row = results[name]
        table.add_row(name, f"{row['ndcg@10']:.4f}", f"{row['recall@100']:.4f}",
                      f"{row['mrr@10']:.4f}", f"{row['queries_per_s']:.1f}")
    if "hybrid_reranked" in results:
        row = results["hybrid_reranked"]
        for name, scores in ((f"hybrid, {row['queries']} queries", row["hybrid_same_queries"]),
                             (f"+ {row['reranker']} (top {row['candidates']})", row)):
            table.add_row(name, f"{scores['ndcg@10']:.4f}", f"{scores['recall@100']:.4f}",
                          f"{scores['mrr@10']:.4f}", f"{scores['queries_per_s']:.2f}")
    console.print(table)
    console.print_json(json.dumps(results["index"]))
