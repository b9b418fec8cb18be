"""A real distribution registry (Debian's docker-registry) on 127.0.0.1 with htpasswd basic auth,
for the provider tests and the demo."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_registry(root: Path, username: str, password: str, port: int = 0) -> Iterator[str]:
    """Serve a registry from ROOT; yields its host:port."""
    binary = shutil.which("docker-registry")
    assert binary, "Debian's docker-registry package is missing: make test installs it"
    subprocess.run(
        ["htpasswd", "-Bbc", str(root / "htpasswd"), username, password], check=True, capture_output=True
    )
    port = port or free_port()
    (root / "config.yml").write_text(
        "version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: "
        + str(root / "data")
        + "}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        "auth: {htpasswd: {realm: nodecred, path: " + str(root / "htpasswd") + "}}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def get_v2(host: str, username: str | None = None, password: str | None = None) -> int:
    """GET /v2/ (the registry API's auth check) without a proxy; the HTTP status."""
    request = urllib.request.Request(f"http://{host}/v2/")
    if username is not None:
        auth = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {auth}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code
