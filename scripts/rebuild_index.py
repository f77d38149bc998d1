"""rebuild-index: index a folder of documents and publish it atomically."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from index import (
    SUPPORTED_SUFFIXES,
    BuildReport,
    Config,
    IndexFolder,
    SearchError,
    build_index,
    load_config,
)
from index.watch import FolderWatcher


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
# readable=False: a folder that cannot be read is the build's error (one line, exit 1), not a
# usage error; and the same check then covers a folder named in SEARCH_DOCS_DIR or --config.
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path, readable=False),
              help=f"Folder of documents ({' '.join(sorted(SUPPORTED_SUFFIXES))}), recursive.  "
                   "[default: corpus]")
@click.option("--index-dir", type=click.Path(path_type=Path, readable=False),
              help="Folder holding the index generations.  [default: var/index]")
@click.option("--model", help="Model directory or cached model name.  [default: all-MiniLM-L6-v2]")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="SEARCH_CONFIG", help="TOML file of settings (flags and SEARCH_* win).")
@click.option("--vector-store", metavar="URI",
              help="faiss, milvus://HOST:PORT[/NAME] or a Milvus Lite file PATH.db.  "
                   "[default: faiss]")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Embed passages on this Ray cluster (HOST:PORT) instead of here.")
@click.option("--full", is_flag=True, help="Re-embed every document instead of reusing vectors.")
@click.option("--rollback", is_flag=True,
              help="Make the previous generation live again, then exit.")
@click.option("--watch", is_flag=True,
              help="Build, then keep watching the docs folder and publish a new generation "
                   "after each change, until SIGINT or SIGTERM.")
@click.option("-q", "--quiet", is_flag=True,
              help="The summary only: no progress bars, no log lines but errors.")
@click.option("-v", "--verbose", is_flag=True, help="Debug log lines.")
def main(
    docs_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    config_file: Path | None,
    vector_store: str | None,
    ray_address: str | None,
    full: bool,
    rollback: bool,
    watch: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Index a folder of documents into passages, embeddings and a vector index.

    Unchanged documents keep their vectors; the new index replaces the live one only
    once it is complete, so a failed or interrupted rebuild changes nothing.
    """
    if watch and rollback:
        raise click.UsageError("--watch and --rollback cannot be used together")
    # Quiet is the summary alone (which lists the skipped files): errors only on stderr, and
    # no progress bar from the libraries that load and export the model either.
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(message)s")
    if quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # transformers follows it too
    try:
        config = load_config(
            config_file, os.environ,
            {"docs_dir": docs_dir, "index_dir": index_dir, "model": model,
             "vector_store": vector_store},
        )
        if rollback:
            live = IndexFolder(config.index_dir).rollback()
            click.echo(f"Rolled back {config.index_dir} to generation {live.name}.")
            return
        if watch:
            _watch(config, full, quiet, ray_address)
            return
        report = build_index(config, full=full, progress=not quiet, ray_address=ray_address)
    except SearchError as e:
        raise click.ClickException(str(e)) from e
    click.echo(_summary(report, config.docs_dir, config.index_dir))


def _watch(config: Config, full: bool, quiet: bool, ray_address: str | None) -> None:
    """Build, print the summary of the first build that succeeds, and keep the index current
    (a log line per build) until stopped by a signal."""

    def summarise(report: BuildReport) -> None:
        if watcher.builds == 1:
            click.echo(_summary(report, config.docs_dir, config.index_dir))
            sys.stdout.flush()

    watcher = FolderWatcher(config, ray_address=ray_address, progress=not quiet, full=full,
                            on_build=summarise)
    watcher.run_until_signalled()


def _summary(report: BuildReport, docs_dir: Path, index_dir: Path) -> str:
    documents = (
        f"{len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"{len(report.skipped)} skipped"
    )
    if report.generation is None:
        lines = [f"Index {index_dir} is up to date with {docs_dir}: nothing re-embedded."]
    else:
        lines = [f"Indexed {docs_dir} into {index_dir}, generation {report.generation}."]
        if report.full_reason:
            lines.append(f"  full rebuild: {report.full_reason}")
        elif report.rechunk_reason:
            lines.append(f"  every document split again: {report.rechunk_reason} "
                         "(passages split as before keep their vectors)")
    lines += [
        f"  documents: {documents}",
        f"  by type:   {', '.join(f'{n} {suffix}' for suffix, n in report.by_type.items())}",
        f"  read:      {sum(report.by_type.values()) - report.not_reread} files, "
        f"{report.not_reread} unchanged files kept as read before",
        f"  passages:  {report.passages} in the index, {report.embedded} embedded",
        f"  took {report.seconds:.1f} s",
    ]
    lines += [f"  skipped {s.source}: {s.reason}" for s in report.skipped]
    lines += [f"  cut short {t.source}: {t.reason}" for t in report.truncated]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
