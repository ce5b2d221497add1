"""`python -m bridge.envoy`: render the config from THROTTLING_* settings, then become Envoy.

The one way Envoy is started: by `make up`, by docker-compose, and in the end-to-end test.
The rendered config goes under the stack's data directory (THROTTLING_DATA_DIR), so two stacks
on one machine never overwrite each other's. A busy port ends it with one line naming the
variable to change, before Envoy starts (Envoy would print a page of logs, or share the port
with another Envoy through SO_REUSEPORT).
"""

from __future__ import annotations

import os
import sys

from bridge.envoy import command, render
from bridge.settings import BridgeSettings
from throttling_sequencer.settings import SettingsError
from throttling_sequencer.startup import StartupError, ensure_port_free

PROG = "python -m bridge.envoy"


def main() -> int:
    try:
        settings = BridgeSettings.from_env()
        ensure_port_free(settings.envoy.host, settings.envoy.port, "THROTTLING_ENVOY_PORT")
        ensure_port_free("127.0.0.1", settings.envoy.admin_port, "THROTTLING_ENVOY_ADMIN_PORT")
        text = render(settings)
    except (SettingsError, StartupError, ValueError) as error:
        sys.stderr.write(f"{PROG}: error: {error}\n")
        return 1
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = settings.data_dir / "envoy.yaml"
    config.write_text(text)
    argv = command(config)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
