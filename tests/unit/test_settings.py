from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings import BridgeSettings
from throttling_sequencer import tracing
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
        ("ENVOY_PORT", "http"),
        ("ENVOY_ADMIN_PORT", "70000"),
        ("GRAPHQL_PORT", "8o90"),
        ("GRAPHQL_MAX_COST", "0"),
        ("GRAPHQL_SUBSCRIPTION_CHANNELS", "0"),
        ("RATE_LIMIT_BURST", "many"),
        ("OTEL_SAMPLER_RATIO", "1.5"),
        ("OTEL_SAMPLER_RATIO", "-0.1"),
        ("MAX_BATCH_ASSIGNMENTS", "0"),
        ("MAX_BATCH_GOALS", "0"),
        ("CORS_ORIGINS", "https://app.example.com/"),
        ("CORS_ORIGINS", "http://localhost:*,*"),
        ("CORS_ORIGINS", "app.example.com"),
        ("ENVOY_MAX_CONNECTIONS", "0"),
    ],
)
def test_unusable_values_fail_at_startup_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"THROTTLING_{name}"):
        BridgeSettings.from_env({f"THROTTLING_{name}": value})


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as error:
        BridgeSettings.from_env({"THROTTLING_WORKERS": "0", "THROTTLING_GRAPHQL_MAX_COST": "0"})
    assert str(error.value) == (
        "THROTTLING_WORKERS must be 1..64; THROTTLING_GRAPHQL_MAX_COST must be at least 1, not 0"
    )


def test_the_bridges_read_the_same_variables_as_the_server() -> None:
    settings = BridgeSettings.from_env(
        {
            "THROTTLING_GRPC_HOST": "server",
            "THROTTLING_GRPC_PORT": "6000",
            "THROTTLING_GRAPHQL_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.0/16",
            "THROTTLING_ENVOY_OTLP_ENDPOINT": "collector:4317",
        }
    )
    assert settings.sidecar.grpc_target == "server:6000"  # where the server listens, unless set
    assert settings.graphql.trusted_proxies == ("10.0.0.0/8", "192.168.0.0/16")
    assert settings.envoy.otlp_endpoint == "collector:4317"
    explicit = BridgeSettings.from_env({"THROTTLING_GRAPHQL_GRPC_TARGET": "envoy:8080"})
    assert explicit.sidecar.grpc_target == "envoy:8080"
    # The server's own settings ignore the bridges' variables, whatever they hold.
    assert Settings.from_env({"THROTTLING_GRAPHQL_MAX_COST": "0"}) == Settings()


def test_storage_kind_comes_from_the_url_scheme() -> None:
    assert Settings().storage_kind == "sqlite"
    assert Settings(database_url="postgres://u@h/db").storage_kind == "postgres"
    assert Settings(database_url="memory://").storage_kind == "memory"
    assert Settings(database_url="postgres://u@h/db").uses_outbox
    assert not Settings(database_url="memory://", outbox="on").uses_outbox


def test_building_settings_never_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THROTTLING_GRPC_PORT", "6000")
    assert Settings().grpc_port == 50051
    assert Settings.from_env().grpc_port == 6000


def test_traces_the_server_starts_are_sampled_only_when_something_reads_them() -> None:
    assert Settings.from_env({}).otel_sampler_ratio is None
    assert tracing.sampled_share("none", None) == 0.0
    assert tracing.sampled_share("otlp", None) == 1.0
    ratio = Settings.from_env({"THROTTLING_OTEL_SAMPLER_RATIO": "0.25"}).otel_sampler_ratio
    assert tracing.sampled_share("otlp", ratio) == 0.25


def test_cors_origins_are_a_comma_separated_list_with_a_local_default() -> None:
    assert BridgeSettings.from_env({}).cors_origins == ("http://localhost:*", "http://127.0.0.1:*")
    configured = BridgeSettings.from_env(
        {"THROTTLING_CORS_ORIGINS": "https://app.example.com, https://*.example.com,http://[::1]:*"}
    )
    assert configured.cors_origins == ("https://app.example.com", "https://*.example.com", "http://[::1]:*")
    assert BridgeSettings.from_env({"THROTTLING_CORS_ORIGINS": ""}).cors_origins == ()
