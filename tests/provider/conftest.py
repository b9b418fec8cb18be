"""Fixtures for the provider tier: moto on loopback (counted at the server) and AWS test credentials."""

from __future__ import annotations

import datetime
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.provider.harness import install_frozen


class _Counting:
    """WSGI middleware counting requests by X-Amz-Target, i.e. token calls as the server sees them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            self.counts[environ.get("HTTP_X_AMZ_TARGET", environ.get("PATH_INFO", ""))] += 1
        return self.app(environ, start_response)


def _real_ecr_token_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers GetAuthorizationToken with a fixed expiresAt of 2015-01-01, so every token it
    issues is already expired (and nodecred rightly refuses to cache it). Real ECR tokens live
    12 hours (AuthorizationData docs); this fixture makes moto say so."""
    from moto.ecr.responses import ECRResponse

    original = ECRResponse.get_authorization_token

    def twelve_hours(self: Any) -> Any:
        result = original(self)
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=12)
        for entry in result.result["authorizationData"]:
            entry["expiresAt"] = expires
        return result

    monkeypatch.setattr(ECRResponse, "get_authorization_token", twelve_hours)


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Counter[str]]]:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    _real_ecr_token_lifetime(monkeypatch)
    app = _Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app.counts
    finally:
        server.shutdown()


FROZEN = Path(__file__).resolve().parents[2] / "dist" / "nodecred-provider"


@pytest.fixture(scope="session", autouse=True)
def frozen_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run this tier against the frozen build (`make test` builds it first).

    The build's PT_INTERP names /opt/nodecred/provider, where the installer puts it; the tests
    install a copy in a temporary directory and point its interpreter there instead, which is
    what an install at another prefix does. test_frozen.py runs the unmodified build in a chroot.
    """
    if os.environ.get("NODECRED_PROVIDER") or not (FROZEN / "nodecred-provider").exists():
        yield
        return
    os.environ["NODECRED_PROVIDER"] = install_frozen(FROZEN, tmp_path_factory.mktemp("opt") / "provider")
    try:
        yield
    finally:
        del os.environ["NODECRED_PROVIDER"]


@pytest.fixture
def aws_env() -> dict[str, str]:
    """Static test credentials; no IMDS, no proxy, nothing leaves loopback."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "NO_PROXY": "127.0.0.1,localhost",
        "HTTPS_PROXY": "",
        "HTTP_PROXY": "",
    }
