"""``python -m service.healthcheck``: exit 0 when the local server answers ``/healthz``.

The Docker HEALTHCHECK runs this, so it probes the port the server was configured with
(``GRADSERVE_PORT``, as the server reads it) rather than a port written into the image.
"""
from __future__ import annotations

import sys
import urllib.request

from .settings import Settings


def main() -> int:
    settings = Settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    try:
        with urllib.request.urlopen(f"http://{host}:{settings.port}/healthz", timeout=4) as r:
            return 0 if r.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
