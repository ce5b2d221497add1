"""`python -m bridge.envoy`: render the config from THROTTLING_* settings, then become Envoy.

The one way Envoy is started: by `make up`, by docker-compose, and in the end-to-end test.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bridge.envoy import EnvoySettings, command, render


def main() -> None:
    directory = Path(os.environ.get("THROTTLING_DATA_DIR", tempfile.gettempdir()))
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "envoy.yaml"
    config.write_text(render(EnvoySettings.from_env()))
    argv = command(config)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
