"""Settings come from environment variables; a bad value stops start-up naming the variable."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from cloudsignal.env import database_from_url, env_bool, env_int, env_port

ROOT = Path(settings.BASE_DIR)


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSIGNAL_", "DATABASE_URL", "DEBUG"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLOUDSIGNAL_MQTT_PORT", "eighteen"),
        ("CLOUDSIGNAL_HTTP_PORT", "70000"),
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://root@localhost/x"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    result = run_manage("check", CLOUDSIGNAL_DATA_DIR=str(tmp_path), **{variable: value})
    assert result.returncode != 0
    assert variable in result.stderr
    # One clear line, not a page of traceback the user must read through.
    assert "ImproperlyConfigured" in result.stderr


def test_secret_key_is_generated_once_and_kept_in_the_data_dir(tmp_path: Path) -> None:
    for _ in range(2):
        assert run_manage("check", CLOUDSIGNAL_DATA_DIR=str(tmp_path)).returncode == 0
    key_file = tmp_path / "secret_key"
    assert len(key_file.read_text()) >= 50
    assert key_file.stat().st_mode & 0o077 == 0


def test_helpers_parse_and_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", " 42 ")
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT", 1) == 42
    assert env_port("X_MISSING", 1883) == 1883
    monkeypatch.setenv("X_INT", "-1")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_port("X_INT", 1)


def test_database_url_parsing() -> None:
    pg = database_from_url("DATABASE_URL", "postgres://postgres:p%40ss@127.0.0.1:5433/cloud?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "cloud",
        "postgres",
        "p@ss",
        "127.0.0.1",
        "5433",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert database_from_url("DATABASE_URL", "sqlite:////var/lib/x.db")["NAME"] == "/var/lib/x.db"
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url("DATABASE_URL", "sqlite://")


def test_env_example_documents_every_variable_the_code_reads() -> None:
    read = set()
    for path in [
        *ROOT.glob("cloudsignal/**/*.py"),
        *ROOT.glob("clients/**/*.py"),
        *ROOT.glob("workspaces/**/*.py"),
    ]:
        read |= set(re.findall(r"env_(?:str|bool|int|port|list)\(\s*\"([A-Z_]+)\"", path.read_text()))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert "CLOUDSIGNAL_MQTT_PORT" in read
    assert read - documented == set()
