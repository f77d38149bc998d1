"""Where "no close match" begins, for each index: the line between answers and noise.

Every query has a nearest passage; how near an unrelated query's nearest passage comes depends
on the collection (off-topic queries came within 0.21-0.29 of the sample articles' passages but
0.29-0.33 of the Node.js API docs', whose short passages match anything a little). One fixed
line either misses in one folder or cries wolf in another (docs/quality.md, "Weak results").

So each build asks: how close do everyday queries, about nothing a folder of documents is
likely to hold, come to these passages? The line is a margin above a high quantile of those
probes' best scores (a quantile, not the maximum, so that a folder that does hold recipes or
travel notes moves it less), within fixed bounds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from index.embedding import Embedder

# The line when an index records none (built before calibration): the global one measured on
# SciFact and the sample corpus.
DEFAULT_WEAK_COSINE = 0.25
# The calibrated line is kept within these: an index of a few passages has few probes' bests
# to go on, and a folder about the probes' own topics must not flag its real answers.
MIN_WEAK_COSINE = 0.22
MAX_WEAK_COSINE = 0.35
QUANTILE = 0.9  # of the probes' best cosines
MARGIN = 0.06  # above it
# Everyday questions: none is about science, software, news or the topics of the test
# collections, and none is in the off-topic queries the calibration is measured with
# (eval/off_topic.txt).
PROBES = (
    "how to bake sourdough bread at home",
    "the best time of year to visit Japan",
    "how to clean a cast iron pan",
    "which team won the basketball championship last year",
    "how to plant tulip bulbs in autumn",
    "what to pack for a beach holiday",
    "how to make a paper airplane that flies far",
    "the history of the Eiffel Tower",
    "how to stop a cat scratching furniture",
    "easy guitar chords for beginners",
    "how to choose running shoes",
    "what is the capital of Australia",
    "how to paint a bedroom wall",
    "a good book to read on a long flight",
    "how to make cold brew coffee",
    "where to see the northern lights",
    "how to write a birthday card for a grandmother",
    "the rules of chess castling",
    "how to keep houseplants alive in winter",
    "what to wear to a summer wedding",
    "how to iron a shirt quickly",
    "the tallest mountain in Africa",
    "how to make a vegetable curry",
    "tips for learning to swim as an adult",
    "how to fold a fitted sheet",
    "famous paintings in the Louvre",
    "how to start a vegetable garden",
    "the best board games for families",
    "how to care for a goldfish",
    "what makes a good pizza dough",
    "how to plan a road trip across Scotland",
    "how to sharpen a kitchen knife",
)


def weak_cosine(embedder: Embedder, vectors: NDArray[np.float32]) -> float:
    """The cosine under which a best passage is no close match, for these passage vectors
    (normalised, one per row), as the build records it in the manifest."""
    if not len(vectors):
        return DEFAULT_WEAK_COSINE
    probes = np.stack([embedder.embed_query(probe) for probe in PROBES])
    # Row blocks bound the memory of the product: a million passages is 3.8 GB of scores at once.
    best = np.full(len(PROBES), -1.0, np.float32)
    for start in range(0, len(vectors), 100_000):
        block = vectors[start : start + 100_000] @ probes.T
        best = np.maximum(best, block.max(axis=0))
    line = float(np.quantile(best, QUANTILE)) + MARGIN
    return round(min(max(line, MIN_WEAK_COSINE), MAX_WEAK_COSINE), 3)


def recorded_weak_cosine(manifest: dict[str, Any]) -> float:
    """The line a generation's build calibrated, or the default for one built before."""
    return float(manifest.get("weak_cosine", DEFAULT_WEAK_COSINE))
