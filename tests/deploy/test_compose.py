"""deploy/compose.yaml: nginx in front of N replicas, consistent with the service's settings
and with deploy/nginx.conf (which test_replicas runs for real)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.settings import ENV_PREFIX, Settings

from ..service.helpers import REPO

DEPLOY = REPO / "deploy"


def test_compose_puts_nginx_in_front_of_replicas() -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    replica, proxy = doc["services"]["gradserve"], doc["services"]["nginx"]
    assert replica["deploy"]["replicas"] >= 2
    assert Path(replica["build"]["context"]) == Path("..")
    env = replica["environment"]
    assert all(k.startswith(ENV_PREFIX) for k in env)
    settings = Settings(**{k[len(ENV_PREFIX):].lower(): v for k, v in env.items()})
    grace = float(replica["stop_grace_period"].rstrip("s"))
    assert settings.shutdown_timeout < grace  # the drain ends before docker's SIGKILL
    source, target, _ = proxy["volumes"][0].split(":")
    assert (DEPLOY / source).resolve() == DEPLOY / "nginx.conf"
    assert target == "/etc/nginx/nginx.conf"
    assert proxy["depends_on"]["gradserve"]["condition"] == "service_healthy"
    conf = (DEPLOY / "nginx.conf").read_text()
    port = re.search(r"server gradserve:(\d+)", conf)
    assert port is not None and int(port.group(1)) == settings.port
    listen = re.search(r"listen (\d+);", conf)
    assert listen is not None and proxy["ports"][0].endswith(f":{listen.group(1)}")
