"""load_config: defaults, then a TOML file, then SEARCH_* variables, then overrides."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from index.config import CHUNKER, DEFAULT_MODEL, Config, load_config
from index.errors import ConfigError, SearchError
from scripts.rebuild_index import main as rebuild_index
from service.__main__ import main as serve

# The options whose help states a default that Config holds, and its field.
OPTION_FIELDS = {"--docs": "docs_dir", "--index-dir": "index_dir", "--model": "model",
                 "--vector-store": "vector_store", "--host": "host", "--port": "port"}


def write_toml(tmp_path: Path, text: str, name: str = "search.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_source() -> None:
    assert load_config() == Config()


@pytest.mark.parametrize(("command", "options"), [
    (rebuild_index, ["--docs", "--index-dir", "--model", "--vector-store"]),
    (serve, ["--index-dir", "--host", "--port"]),
], ids=["rebuild-index", "service"])
def test_the_defaults_a_help_states_are_the_ones_used(
    command: click.Command, options: list[str]
) -> None:
    # The help texts spell out defaults that live in Config: they must say what a run does.
    text = CliRunner().invoke(command, ["--help"], terminal_width=200).output
    stated = dict(re.findall(r"^\s+(--[\w-]+)\s.*\[default: ([^\]]+)\]$", text, re.M))
    used = load_config()
    for option in options:
        assert stated.get(option) == str(getattr(used, OPTION_FIELDS[option])), option


def test_empty_sources_give_the_defaults(tmp_path: Path) -> None:
    assert load_config(write_toml(tmp_path, ""), {}, {}) == Config()


def test_toml_file_values_are_used_and_typed(tmp_path: Path) -> None:
    path = write_toml(tmp_path, """
docs_dir = "my/docs"
index_dir = "/srv/index"
model = "/models/minilm"
batch_size = 8
max_passage_tokens = 128
title_in_embedding = true
reload_interval = 3
port = 9000
""")
    config = load_config(path)
    assert config.docs_dir == Path("my/docs")
    assert isinstance(config.index_dir, Path) and config.index_dir == Path("/srv/index")
    assert config.model == "/models/minilm"
    assert config.batch_size == 8
    assert config.max_passage_tokens == 128
    assert config.title_in_embedding is True
    # A TOML integer for a float setting is a float.
    assert config.reload_interval == 3.0 and isinstance(config.reload_interval, float)
    assert config.port == 9000
    # Settings the file does not name keep their defaults.
    assert config.overlap_sentences == Config().overlap_sentences
    assert config.host == Config().host


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'batch_size = 8\nmodel = "from-file"\nport = 9000\n')
    env = {"SEARCH_BATCH_SIZE": "16", "SEARCH_PORT": "9100"}
    config = load_config(path, env)
    assert config.batch_size == 16
    assert config.port == 9100
    assert config.model == "from-file"  # not in the environment: the file's value stays


def test_overrides_win_over_environment_and_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'index_dir = "from-file"\nbatch_size = 8\n')
    env = {"SEARCH_INDEX_DIR": "from-env", "SEARCH_BATCH_SIZE": "16"}
    config = load_config(path, env, {"index_dir": Path("from-flag"), "batch_size": 4})
    assert config.index_dir == Path("from-flag")
    assert config.batch_size == 4


def test_overrides_of_none_fall_through(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'docs_dir = "from-file"\n')
    env = {"SEARCH_INDEX_DIR": "from-env"}
    config = load_config(
        path, env, {"docs_dir": None, "index_dir": None, "model": None, "batch_size": None}
    )
    assert config.docs_dir == Path("from-file")
    assert config.index_dir == Path("from-env")
    assert config.model == DEFAULT_MODEL
    assert config.batch_size == 16


def test_false_override_is_not_treated_as_unset() -> None:
    env = {"SEARCH_TITLE_IN_EMBEDDING": "true"}
    assert load_config(None, env, {"title_in_embedding": False}).title_in_embedding is False


def test_environment_strings_are_converted() -> None:
    env = {
        "SEARCH_DOCS_DIR": "/data/docs",
        "SEARCH_BATCH_SIZE": " 64 ",
        "SEARCH_RELOAD_INTERVAL": "0.5",
        "SEARCH_MAX_DOCUMENT_BYTES": "1048576",
    }
    config = load_config(None, env)
    assert config.docs_dir == Path("/data/docs")
    assert config.batch_size == 64
    assert config.reload_interval == 0.5
    assert config.max_document_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True),
     ("false", False), ("0", False), ("No", False), ("off", False), (" true ", True)],
)
def test_boolean_words_from_the_environment(raw: str, expected: bool) -> None:
    config = load_config(None, {"SEARCH_TITLE_IN_EMBEDDING": raw})
    assert config.title_in_embedding is expected


def test_environment_without_the_prefix_or_unknown_is_ignored() -> None:
    env = {
        "BATCH_SIZE": "1",  # no prefix
        "SEARCH_NO_SUCH_SETTING": "whatever",  # unknown: other tools may use SEARCH_*
        "SEARCH_CONFIG": "/does/not/matter.toml",  # the entry point's own variable
        "HOME": "/root",
    }
    assert load_config(None, env) == Config()


def test_environment_is_only_read_when_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_BATCH_SIZE", "7")
    assert load_config().batch_size == 16


@pytest.mark.parametrize(
    ("env", "setting", "origin"),
    [
        ({"SEARCH_BATCH_SIZE": "many"}, "batch_size", "SEARCH_BATCH_SIZE"),
        ({"SEARCH_BATCH_SIZE": "1.5"}, "batch_size", "SEARCH_BATCH_SIZE"),
        ({"SEARCH_BATCH_SIZE": ""}, "batch_size", "SEARCH_BATCH_SIZE"),
        ({"SEARCH_PORT": "80a"}, "port", "SEARCH_PORT"),
        ({"SEARCH_TITLE_IN_EMBEDDING": "maybe"}, "title_in_embedding", "SEARCH_TITLE_IN_EMBEDDING"),
        ({"SEARCH_RELOAD_INTERVAL": "soon"}, "reload_interval", "SEARCH_RELOAD_INTERVAL"),
    ],
)
def test_wrong_type_in_environment_names_setting_and_variable(
    env: dict[str, str], setting: str, origin: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env)
    message = str(caught.value)
    assert setting in message
    assert origin in message


@pytest.mark.parametrize(
    ("line", "setting"),
    [
        ('batch_size = "many"', "batch_size"),
        ("batch_size = true", "batch_size"),  # a bool is not a number
        ('title_in_embedding = "perhaps"', "title_in_embedding"),
        ("docs_dir = 5", "docs_dir"),
        ("reload_interval = false", "reload_interval"),
        ("port = [8000]", "port"),
    ],
)
def test_wrong_type_in_file_names_setting_and_file(tmp_path: Path, line: str, setting: str) -> None:
    path = write_toml(tmp_path, line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert setting in message
    assert str(path) in message


def test_wrong_type_in_overrides_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--batch-size"):
        load_config(None, {}, {"batch_size": "lots"})


def test_float_in_file_for_an_integer_setting_is_an_error(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "batch_size = 2.5\n")
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(path)


def test_array_in_file_for_a_text_setting_is_an_error(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'host = ["127.0.0.1", "::1"]\n')
    with pytest.raises(ConfigError, match="host"):
        load_config(path)


def test_unknown_key_in_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'docs_dir = "docs"\nbatchsize = 8\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "batchsize" in str(caught.value)
    assert str(path) in str(caught.value)


def test_table_in_file_is_an_unknown_key(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[index]\nbatch_size = 8\n")
    with pytest.raises(ConfigError, match="index"):
        load_config(path)


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(ConfigError, match="colour"):
        load_config(None, {}, {"colour": "blue"})


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SEARCH_BATCH_SIZE": "0"}, "batch_size"),
        ({"SEARCH_PORT": "70000"}, "port"),
        ({"SEARCH_PORT": "0"}, "port"),
        ({"SEARCH_MAX_PASSAGE_TOKENS": "10"}, "max_passage_tokens"),
        ({"SEARCH_MAX_PASSAGE_TOKENS": "-1"}, "max_passage_tokens"),
        ({"SEARCH_KEEP_GENERATIONS": "0"}, "keep_generations"),
        ({"SEARCH_RELOAD_INTERVAL": "0"}, "reload_interval"),
        ({"SEARCH_MODEL": "  "}, "model"),
        ({"SEARCH_FAISS_FACTORY": ""}, "faiss_factory"),
    ],
)
def test_out_of_range_values_are_errors(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_config(None, env)


def test_validation_applies_to_file_values_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(write_toml(tmp_path, "batch_size = 0\n"))
    with pytest.raises(ConfigError, match="port"):
        load_config(write_toml(tmp_path, "port = 70000\n"))


def test_boundary_values_are_accepted() -> None:
    env = {
        "SEARCH_BATCH_SIZE": "1",
        "SEARCH_PORT": "65535",
        "SEARCH_MAX_PASSAGE_TOKENS": "32",
        "SEARCH_KEEP_GENERATIONS": "1",
        "SEARCH_OVERLAP_SENTENCES": "0",
    }
    config = load_config(None, env)
    assert (config.batch_size, config.port, config.max_passage_tokens) == (1, 65535, 32)
    assert (config.keep_generations, config.overlap_sentences) == (1, 0)


def test_a_bad_override_cannot_be_rescued_by_a_good_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "batch_size = 8\n")
    with pytest.raises(ConfigError):
        load_config(path, {}, {"batch_size": 0})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="nope.toml"):
        load_config(missing)


def test_folder_instead_of_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path)


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "batch_size = = 8\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_duplicate_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(write_toml(tmp_path, "batch_size = 8\nbatch_size = 9\n"))


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    # Mode 000 does not stop root, so make the file unreadable in ways that stop anyone.
    dangling = tmp_path / "dangling.toml"
    dangling.symlink_to(tmp_path / "gone.toml")
    with pytest.raises(ConfigError, match="dangling.toml"):
        load_config(dangling)
    under_a_file = write_toml(tmp_path, "batch_size = 8\n") / "inner.toml"
    with pytest.raises(ConfigError):
        load_config(under_a_file)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('model = "café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.toml"):
        load_config(path)


def test_config_error_is_a_search_error() -> None:
    # The entry points catch SearchError to print a message instead of a traceback.
    assert issubclass(ConfigError, SearchError)


def test_chunking_settings_reflect_the_loaded_values() -> None:
    config = load_config(None, {"SEARCH_MAX_PASSAGE_TOKENS": "64", "SEARCH_OVERLAP_SENTENCES": "0"})
    assert config.chunking_settings() == {
        "max_passage_tokens": 64,
        "overlap_sentences": 0,
        "min_passage_words": Config().min_passage_words,
        "title_in_embedding": False,
        "section_in_embedding": Config().section_in_embedding,
        "chunker": CHUNKER,  # a change of chunking code makes every passage new
    }


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("faiss", True),
        ("milvus://127.0.0.1:19530", True),
        ("milvus://milvus.internal:19530/docs_v2", True),
        ("var/vectors.db", True),
        ("milvus://nohost", False),  # no port
        ("milvus://host:99999", False),
        ("milvus://host:19530/has-dash", False),  # not a Milvus collection name
        ("milvus:vectors.db", False),
        ("FAISS", False),
        ("", False),
    ],
)
def test_vector_store_values(value: str, valid: bool) -> None:
    if valid:
        assert load_config(None, {"SEARCH_VECTOR_STORE": value}).vector_store == value
    else:
        with pytest.raises(ConfigError, match="vector_store must be faiss, milvus://"):
            load_config(None, {"SEARCH_VECTOR_STORE": value})
