from __future__ import annotations

import pytest

from bridge.envoy import EnvoySettings, fill, render


def test_environment_overrides_ports_and_defaults_stay() -> None:
    settings = EnvoySettings.from_env({"THROTTLING_ENVOY_PORT": "18080", "THROTTLING_GRPC_PORT": "15051"})
    assert (settings.listen_port, settings.grpc_port) == (18080, 15051)
    assert (settings.listen_host, settings.admin_port, settings.grpc_host) == ("127.0.0.1", 9901, "127.0.0.1")


def test_render_fills_every_placeholder() -> None:
    config = render(EnvoySettings())
    assert "{{" not in config
    assert "port_value: 8080" in config and "port_value: 50051" in config and "port_value: 9901" in config


def test_an_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(KeyError):
        fill("port: {{nope}}", {})
