"""A pasted page as the query: longer than the model's window, it is read whole (windows
embedded and averaged), never cut; through the API it finds the passages like it."""

from __future__ import annotations

import numpy as np
from flask.testing import FlaskClient

from index import Embedder
from index.embedding import _query_windows

ARTICLE = (
    "Russia is ready to provide Iraq with military assistance similar to what it provided "
    "to Syria, the deputy foreign minister said. The key point is the political will of the "
    "Iraqi leadership to approve this assistance. "
)


def test_a_query_longer_than_the_window_is_every_window_averaged(embedder: Embedder) -> None:
    text = ARTICLE * 12 + "The harbour master counts the herons on the tidal flats at dawn. " * 12
    assert embedder.count_tokens(text) > embedder.max_tokens
    windows = _query_windows(text, embedder.count_tokens, embedder.max_tokens)
    assert len(windows) >= 3
    assert all(embedder.count_tokens(w) <= embedder.max_tokens for w in windows)
    assert " ".join(windows) == " ".join(text.split())  # every word read, none twice
    vector = embedder.embed_query(text)
    pooled = np.mean([embedder.embed_query(w) for w in windows], axis=0)
    assert np.allclose(vector, pooled / np.linalg.norm(pooled), atol=1e-5)
    # Cut at the window, the herons at the end would be lost; averaged, they count.
    herons = embedder.embed_query("herons on the tidal flats")
    first_window = embedder.embed_query(windows[0])
    assert float(vector @ herons) > float(first_window @ herons) + 0.05


def test_a_paragraph_pasted_again_is_read_again(embedder: Embedder) -> None:
    pasted = "\n\n".join([ARTICLE.strip()] * 8)  # a real paste repeats
    windows = _query_windows(pasted, embedder.count_tokens, embedder.max_tokens)
    assert len(windows) >= 2
    assert " ".join(windows) == " ".join(pasted.split())  # all eight copies read


def test_a_pasted_page_finds_the_passages_it_holds(client: FlaskClient,
                                                   embedder: Embedder) -> None:
    first = client.get("/api/search", query_string={
        "q": "Russia ready to provide Iraq military assistance like Syria",
        "k": 10}).get_json()
    texts = list(dict.fromkeys(hit["text"] for hit in first["results"]))
    pasted = "\n\n".join(texts)  # distinct paragraphs, several windows long
    windows = _query_windows(pasted, embedder.count_tokens, embedder.max_tokens)
    assert len(windows) >= 3
    assert " ".join(windows) == " ".join(pasted.split())
    pooled = np.mean([embedder.embed_query(w) for w in windows], axis=0)
    assert np.allclose(embedder.embed_query(pasted), pooled / np.linalg.norm(pooled),
                       atol=1e-5)
    body = client.post("/api/search", json={"q": pasted, "mode": "dense"}).get_json()
    assert body["results"][0]["text"] in texts
