"""Optional API keys: when any are set, every route but /healthz asks for one.

The API takes ``Authorization: Bearer KEY``. The pages take HTTP Basic with the key as the
password (any user name), which browsers ask for themselves: no login form, no session
cookie and nothing to forge across sites, and curl's ``-u :KEY`` works too; Bearer works
there as well. Basic sends the key with every request, as Bearer does, so either belongs
behind TLS (SECURITY.md).

Keys come from ``api_keys_file`` (one a line; blank lines and ``#`` comments skipped),
re-read when the file changes, and from ``api_keys`` (SEARCH_API_KEYS: separated by commas
or spaces). A presented key is compared with every key by ``hmac.compare_digest`` on their
SHA-256 digests, so the time taken says nothing of how much of a key matched, nor of its
length.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from flask import Flask, Response, request

from index import Config
from service.errors import error_response, wants_json

logger = logging.getLogger(__name__)

OPEN_ENDPOINTS = frozenset({"api.healthz"})  # a load balancer's probe needs no key
# How often the key file's status is looked at: a changed file is read within this.
RECHECK_SECONDS = 1.0
_SEPARATORS = re.compile(r"[\s,]+")


class ApiKeys:
    """The keys in force: those set in the configuration and those in the key file."""

    def __init__(self, listed: str, path: Path | None) -> None:
        self._listed = _digests(_SEPARATORS.split(listed))
        self._path = path
        self._lock = threading.Lock()
        self._from_file: list[bytes] = []
        self._file_state: tuple[int, int] | None = None
        self._checked = 0.0
        if path is not None:
            self._read_file(force=True)

    @property
    def enabled(self) -> bool:
        return bool(self._listed or self._path is not None)

    def accepts(self, presented: str) -> bool:
        """Whether ``presented`` is one of the keys, in time that depends on neither."""
        if self._path is not None and time.monotonic() - self._checked > RECHECK_SECONDS:
            self._read_file()
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        matched = False
        for key in [*self._listed, *self._from_file]:  # every key, no early exit
            matched |= hmac.compare_digest(digest, key)
        return matched

    def _read_file(self, force: bool = False) -> None:
        assert self._path is not None
        with self._lock:
            self._checked = time.monotonic()
            try:
                status = os.stat(self._path)
                state = (status.st_mtime_ns, status.st_size)
                if state == self._file_state and not force:
                    return
                lines = self._path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as e:
                # Keys that cannot be read let nobody in: failing open would expose the
                # documents the file was set to protect.
                logger.error("cannot read the API key file %s (%s): refusing every key",
                             self._path, e)
                self._from_file, self._file_state = [], None
                return
            self._from_file = _digests(line.split("#", 1)[0] for line in lines)
            if self._file_state is not None:
                logger.info("API key file %s changed: %d keys", self._path,
                            len(self._from_file))
            self._file_state = state


def _digests(keys: Iterable[str]) -> list[bytes]:
    return [hashlib.sha256(k.strip().encode()).digest() for k in keys if k.strip()]


def presented_key() -> str | None:
    """The key a request carries: a Bearer token, or the password of HTTP Basic."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def init_app(app: Flask, config: Config) -> None:
    """Ask every request but the open ones for a key, if any key is set."""
    keys = ApiKeys(config.api_keys, config.api_keys_file)
    app.extensions["api_keys"] = keys
    if not keys.enabled:
        return

    @app.before_request
    def require_key() -> Response | None:
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        key = presented_key()
        if key is not None and keys.accepts(key):
            return None
        message = ("a valid API key is needed: send Authorization: Bearer KEY"
                   if key is None else "the API key is not valid")
        response = error_response(401, message)
        # Browsers ask for the key themselves on a page; API clients are told the scheme.
        response.headers["WWW-Authenticate"] = ('Bearer realm="search"' if wants_json(
            request.path) else 'Basic realm="search", charset="UTF-8"')
        return response


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
