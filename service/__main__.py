"""python -m service: serve the search app with waitress, a production WSGI server."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from index import SearchError, load_config
from service import create_app
from service.server import ListenError, serve


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--index-dir", type=click.Path(path_type=Path),
              help="Folder holding the index generations.  [default: var/index]")
@click.option("--host", help="Address to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=int, help="Port to listen on.  [default: 8000]")
@click.option("--model", help="Model directory or cached model name; must match the index.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="SEARCH_CONFIG", help="TOML file of settings (flags and SEARCH_* win).")
@click.option("--vector-store", metavar="URI",
              help="Where to reach a Milvus index's server (milvus://HOST:PORT[/NAME]) "
                   "if not at the address the rebuild used.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Request threads.")
def main(index_dir: Path | None, host: str | None, port: int | None, model: str | None,
         config_file: Path | None, vector_store: str | None, threads: int) -> None:
    """Serve the search page and JSON API over the index in INDEX_DIR.

    A generation published by rebuild-index while serving is picked up within a few
    seconds, with no restart and no failed request.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_file, os.environ,
                             {"index_dir": index_dir, "host": host, "port": port, "model": model,
                              "vector_store": vector_store})
        app = create_app(config)
    except SearchError as e:
        raise click.ClickException(str(e)) from e
    try:
        # Until SIGTERM, SIGHUP or SIGINT, then a drain of the requests in flight.
        serve(app, config.host, config.port, threads,
              on_listening=lambda url: click.echo(f"Serving on {url}", err=True))
    except ListenError as e:
        raise click.ClickException(str(e)) from e


if __name__ == "__main__":
    main()
