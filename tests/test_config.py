from __future__ import annotations

from pathlib import Path

import pytest

from wharf.registry.config import ConfigError, load_settings, parse_size


def test_sizes() -> None:
    assert parse_size("16MiB") == 16 * 1024 * 1024
    assert parse_size("1GB") == 10**9
    assert parse_size(42) == 42
    with pytest.raises(ValueError):
        parse_size("lots")


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "wharf.yml"
    cfg.write_text("listen: 0.0.0.0:6000\nworkers: 3\nlog: {level: debug}\n")
    settings = load_settings(cfg, environ={"WHARF_WORKERS": "5", "WHARF_LOG__ACCESS_LOG": "false"})
    assert settings.listen == "0.0.0.0:6000"
    assert settings.workers == 5
    assert settings.log.level == "debug"
    assert settings.log.access_log is False


def test_overrides_win(tmp_path: Path) -> None:
    settings = load_settings(None, {"listen": "127.0.0.1:7000"}, environ={"WHARF_LISTEN": "x:1"})
    assert settings.port == 7000


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"WHARF_LISTEN": "nope"}, "WHARF_LISTEN"),
        ({"WHARF_WORKERS": "many"}, "WHARF_WORKERS"),
        ({"WHARF_STORAGE__DRIVER": "floppy"}, "WHARF_STORAGE__DRIVER"),
        ({"WHARF_NO_SUCH_KEY": "1"}, "WHARF_NO_SUCH_KEY"),
        ({"WHARF_MANIFEST_MAX_SIZE": "big"}, "WHARF_MANIFEST_MAX_SIZE"),
    ],
)
def test_errors_name_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ=environ)
    assert key in str(info.value)


def test_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yml", environ={})
    bad = tmp_path / "bad.yml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad, environ={})
