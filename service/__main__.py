"""python -m service: serve the search app with waitress, a production WSGI server."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from index import SearchError, load_config
from service import create_app
from service.access_log import configure_logging
from service.api_keys import is_loopback
from service.server import ListenError, serve
from service.watching import ServiceWatcher


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path, readable=False),
              help="Folder of documents, for --watch.  [default: corpus]")
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
@click.option("--watch", is_flag=True,
              help="Also watch the docs folder and publish a new generation after each "
                   "change (as rebuild-index --watch does), served as soon as it is.")
def main(docs_dir: Path | None, index_dir: Path | None, host: str | None, port: int | None,
         model: str | None, config_file: Path | None, vector_store: str | None, threads: int,
         watch: bool) -> None:
    """Serve the search page and JSON API over the index in INDEX_DIR.

    A generation published by rebuild-index while serving is picked up within a few
    seconds, with no restart and no failed request. With --watch the service keeps the
    index current itself: it builds once, then after each change to the docs folder.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_file, os.environ,
                             {"docs_dir": docs_dir, "index_dir": index_dir, "host": host,
                              "port": port, "model": model, "vector_store": vector_store})
        configure_logging(config)
        app = create_app(config)
    except SearchError as e:
        raise click.ClickException(str(e)) from e
    if not app.extensions["api_keys"].enabled and not is_loopback(config.host):
        logging.getLogger("service").warning(
            "serving %s beyond this machine with no API key: anyone who reaches it can read "
            "the documents; set api_keys_file or SEARCH_API_KEYS", config.host)
    watcher = ServiceWatcher(app, config) if watch else None
    try:
        # Until SIGTERM, SIGHUP or SIGINT, then a drain of the requests in flight.
        serve(app, config.host, config.port, threads,
              on_listening=lambda url: _listening(url, watcher),
              on_drain=watcher.stop_watching if watcher is not None else None)
    except ListenError as e:
        raise click.ClickException(str(e)) from e
    finally:
        if watcher is not None:
            watcher.stop()


def _listening(url: str, watcher: ServiceWatcher | None) -> None:
    click.echo(f"Serving on {url}", err=True)
    if watcher is not None:  # the app is ready and listening: now the folder is watched
        watcher.start()


if __name__ == "__main__":
    main()
