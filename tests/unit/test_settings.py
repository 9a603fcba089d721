"""Settings from the environment: a malformed number, flag or duration stops the service at
start-up with one line naming the variable and its value (not a traceback, not a default)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from servicekit.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACTIEPUNTEN_SCENARIO_PORT", "tcp://10.0.0.1:8001"),
        ("ACTIEPUNTEN_SCENARIO_PORT", "70000"),
        ("ACTIEPUNTEN_POSTGRES_PORT", "tcp://10.0.0.2:5432"),
        ("ACTIEPUNTEN_MAX_UPLOAD_BYTES", "20MB"),
        ("ACTIEPUNTEN_MAX_DOSSIER_UPLOAD_BYTES", "0"),
        ("ACTIEPUNTEN_KAFKA_IDEMPOTENCE", "maybe"),
        ("ACTIEPUNTEN_SHUTDOWN_GRACE_SECONDS", "20s"),
        ("ACTIEPUNTEN_SHUTDOWN_DRAIN_SECONDS", "-1"),
        ("ACTIEPUNTEN_SHUTDOWN_DRAIN_SECONDS", "nan"),
    ],
)
def test_a_malformed_setting_is_refused_naming_the_variable_and_its_value(
    variable: str, value: str
) -> None:
    refused = pytest.raises(SystemExit, match=f"^{variable}='{value}' is not valid: expected")
    with mock.patch.dict(os.environ, {variable: value}, clear=True), refused:
        Settings.from_env("scenario", require_secret=False)


def test_well_formed_settings_are_read_and_unset_or_empty_ones_are_the_defaults() -> None:
    env = {
        "ACTIEPUNTEN_SCENARIO_PORT": " 9001 ",
        "ACTIEPUNTEN_KAFKA_IDEMPOTENCE": "Off",
        "ACTIEPUNTEN_SHUTDOWN_GRACE_SECONDS": "7.5",
        "ACTIEPUNTEN_MAX_UPLOAD_BYTES": "",
    }
    with mock.patch.dict(os.environ, env, clear=True):
        settings = Settings.from_env("scenario", require_secret=False)
    assert (settings.port, settings.kafka_idempotence) == (9001, False)
    assert settings.shutdown_grace_seconds == 7.5
    assert settings.max_upload_bytes == 20 * 1024 * 1024


def test_serve_exits_with_the_message_not_a_traceback() -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ACTIEPUNTEN_JWT_SECRET": "s" * 32,
        "ACTIEPUNTEN_PORTAL_PORT": "tcp://10.0.0.3:8003",
    }
    result = subprocess.run(
        [sys.executable, "-m", "actiepunten", "serve", "portal"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "ACTIEPUNTEN_PORTAL_PORT='tcp://10.0.0.3:8003' is not valid: "
        "expected a whole number from 0 to 65535"
    )
