"""Docker HEALTHCHECK: exit 0 when this container's server answers /healthz.

Run as ``python -m lepton_ci.serve.healthcheck``; reads LEPTON_SERVE_HOST / LEPTON_SERVE_PORT
like the server does, so it follows a port moved by the deployer. Standard library only.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    host = os.environ.get("LEPTON_SERVE_HOST", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    port = os.environ.get("LEPTON_SERVE_PORT", "8080")
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except Exception as exc:
        print(f"healthcheck failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
