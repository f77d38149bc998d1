"""The per-file time limit: real threads, real time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from index.time_limit import TimeLimitExceeded, time_limit

# The exception may land in a garbage-collector callback (Hypothesis installs one), which
# reports it as unraisable and drops it; raising it again is what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def spin_until_stopped(seconds: float) -> float:
    started = time.perf_counter()
    with pytest.raises(TimeLimitExceeded), time_limit(seconds):
        while True:
            pass
    return time.perf_counter() - started


def test_work_past_its_limit_is_stopped_in_any_thread() -> None:
    assert spin_until_stopped(0.1) < 2
    with ThreadPoolExecutor(2) as pool:
        assert all(t < 2 for t in pool.map(spin_until_stopped, [0.1, 0.1, 0.1]))


def test_an_expiry_swallowed_on_the_way_is_raised_again() -> None:
    # As when it lands in a garbage-collector callback, which Python reports and drops.
    with pytest.raises(TimeLimitExceeded), time_limit(0.05):
        try:
            while True:
                pass
        except TimeLimitExceeded:
            pass
        while True:
            pass


def test_nothing_arrives_after_the_block() -> None:
    with time_limit(0.05):
        pass
    time.sleep(0.3)  # a stray TimeLimitExceeded would interrupt this
    for _ in range(20):
        with pytest.raises(TimeLimitExceeded), time_limit(0.01):
            while True:
                pass
    time.sleep(0.3)
