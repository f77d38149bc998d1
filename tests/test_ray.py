"""rebuild-index --ray on a real local Ray cluster (tests/ray_cluster.py: a head node and a
worker node on 127.0.0.1): the vectors equal the in-process ones, and without --ray Ray is
never imported."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from index import Config, IndexFolder
from tests.ray_cluster import DRIVER_ENV, ray_cluster

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rebuild_index.py"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ray_cluster(tmp_path_factory.mktemp("ray")) as address:
        yield address


def rebuild(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def live_vectors(index_dir: Path) -> np.ndarray:
    return np.load(IndexFolder(index_dir).current() / "vectors.npy")


def test_ray_embeds_the_same_vectors_as_the_local_path(
    cluster: str, sample_index: Config, docs: Path, exported_env: dict[str, str],
    tmp_path: Path,
) -> None:
    env = {**exported_env, **DRIVER_ENV}
    result = rebuild("--docs", docs, "--index-dir", tmp_path / "index", "--ray", cluster,
                     env=env)
    assert result.returncode == 0, result.stderr
    assert "2 actor(s) of 1 CPU(s)" in result.stderr  # one per node
    passages = len(live_vectors(sample_index.index_dir))
    assert f"{passages} embedded" in result.stdout
    # Byte for byte: the actors embed exactly the batches the local path makes.
    assert np.array_equal(live_vectors(tmp_path / "index"), live_vectors(sample_index.index_dir))

    # An incremental rebuild on Ray embeds only the changed document's passages, as the
    # local path does.
    assert rebuild("--docs", docs, "--index-dir", tmp_path / "local", env=env).returncode == 0
    changed = sorted(docs.glob("*.txt"))[0]
    changed.write_text(changed.read_text() + "\n\nA new closing paragraph about lighthouses.\n")
    again = rebuild("--docs", docs, "--index-dir", tmp_path / "index", "--ray", cluster,
                    env=env)
    assert again.returncode == 0, again.stderr
    assert "1 changed" in again.stdout
    local = rebuild("--docs", docs, "--index-dir", tmp_path / "local", env=env)
    assert local.returncode == 0, local.stderr
    assert np.array_equal(live_vectors(tmp_path / "index"), live_vectors(tmp_path / "local"))


def test_without_ray_the_rebuild_never_imports_it(
    docs: Path, exported_env: dict[str, str], tmp_path: Path, model_cache: Path
) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from index import Config, build_index\n"
        f"build_index(Config(docs_dir=Path({str(docs)!r}), index_dir=Path({str(tmp_path)!r}),"
        f" cache_dir=Path({str(model_cache)!r})))\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=exported_env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert IndexFolder(tmp_path).current_or_none() is not None


def test_an_unreachable_cluster_is_a_clean_error(
    docs: Path, exported_env: dict[str, str], tmp_path: Path
) -> None:
    result = rebuild("--docs", docs, "--index-dir", tmp_path / "index", "--ray",
                     "127.0.0.1:9", env={**exported_env, **DRIVER_ENV})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Error: cannot connect to the Ray cluster at 127.0.0.1:9" in result.stderr
    assert IndexFolder(tmp_path / "index").current_or_none() is None
