"""The Flask app: JSON API, web pages, and live reload of the index."""

from __future__ import annotations

import logging
import os

from flask import Flask
from werkzeug.routing import PathConverter

from index import Config, Embedder, IndexFolder, load_config, load_embedder

logger = logging.getLogger(__name__)

# Request bodies beyond this are refused with 413 before they are read.
MAX_BODY_BYTES = 64 * 1024


class DocumentPath(PathConverter):
    """A path that may hold any character: werkzeug's stops at a newline, and a file named
    with one (indexed like any other) would link to a 404."""

    regex = "[^/](?:.|\n)*?"


def create_app(config: Config | None = None, embedder: Embedder | None = None,
               watch: bool = True, observe: bool = True) -> Flask:
    """Build the app over ``config.index_dir`` (default: settings from SEARCH_* variables).

    Args:
        embedder: an already loaded model for ``config.model`` (tests share one).
        watch: check for newly published generations in the background. (Watching the
            docs folder, to publish them, is ``service.watching``: ``--watch``.)
        observe: keep GET /metrics and the access log with its request ids; off only to
            measure what they cost (benchmarks/observability.py).
    """
    from service import access_log, admission, api, api_keys, errors, headers, metrics, state, web
    from service.state import LiveIndex

    if config is None:
        config = load_config(env=os.environ)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # "/api/documents//etc" is an unknown document (404), not a redirect to another URL.
    app.url_map.merge_slashes = False
    app.url_map.converters["path"] = DocumentPath
    app.extensions["search_config"] = config
    if embedder is None:
        embedder = load_embedder(config)
        embedder.warm_up()  # so the first request does not wait for the model's session
    live = LiveIndex(IndexFolder(config.index_dir), embedder, config)
    live.refresh()
    if live.searcher is None:
        logger.warning("no usable index in %s yet: serving 503 until one is published",
                       config.index_dir)
    if watch:
        live.watch(config.reload_interval)
    app.extensions["live_index"] = live
    if observe:  # first, so that every request has its id and start time before anything else
        access_log.init_app(app, config)
        metrics.init_app(app, live)
    api_keys.init_app(app, config)  # after the log's hook: a refusal is logged
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    errors.register_error_handlers(app)
    state.init_app(app)
    admission.init_app(app)
    headers.add_security_headers(app)
    return app
