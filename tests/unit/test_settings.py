from __future__ import annotations

from pathlib import Path

import pytest

from throttling_sequencer.settings import Settings, SettingsError


def test_defaults_are_local_and_embedded() -> None:
    settings = Settings.from_env({})
    assert settings.grpc_address == "127.0.0.1:50051"
    assert settings.resolved_database_url == "sqlite://.data/throttling.sqlite3?synchronous=NORMAL"


def test_environment_variables_override_defaults() -> None:
    settings = Settings.from_env(
        {
            "THROTTLING_GRPC_PORT": "6000",
            "THROTTLING_DATA_DIR": "/var/lib/ts",
            "THROTTLING_REFLECTION": "false",
        }
    )
    assert settings.grpc_port == 6000
    assert settings.resolved_database_url.startswith("sqlite:///var/lib/ts/throttling.sqlite3")
    assert settings.reflection is False
    assert settings.data_dir == Path("/var/lib/ts")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRPC_PORT", "http"),
        ("GRPC_PORT", "70000"),
        ("REFLECTION", "maybe"),
        ("DATABASE_URL", "mysql://x"),
        ("DEFAULT_STRATEGY", "magic"),
        ("PLANNER_THREADS", "0"),
        ("LONG_PLANNER_THREADS", "0"),
        ("QUICK_PLAN_MS", "0"),
        ("QUICK_PLAN_MS", "60001"),
    ],
)
def test_unusable_values_fail_at_startup_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"THROTTLING_{name}"):
        Settings.from_env({f"THROTTLING_{name}": value})
