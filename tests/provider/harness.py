"""Run the provider the way the kubelet does, and loopback servers to point it at."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from nodecred.kubelet.codec import CodecError, CredentialProviderResponse, encode_request, parse_response

V1 = "credentialprovider.kubelet.k8s.io/v1"
ROOT = Path(__file__).resolve().parents[2]


def provider_binary() -> str:
    """The frozen binary when NODECRED_PROVIDER names one (make test does), else the venv's entry point."""
    return os.environ.get("NODECRED_PROVIDER") or str(Path(sys.executable).parent / "nodecred-provider")


def install_frozen(source: Path, target: Path) -> str:
    """Install the frozen build at TARGET, its interpreter re-pointed there (as any other prefix)."""
    shutil.copytree(source, target, symlinks=True)
    (loader,) = (target / "_internal").glob("ld-linux-*.so.*")
    subprocess.run(
        ["patchelf", "--set-interpreter", str(loader), str(target / "nodecred-provider")], check=True
    )
    return str(target / "nodecred-provider")


@dataclass
class Exec:
    code: int
    stdout: bytes
    stderr: str

    def response(self, api_version: str = V1) -> CredentialProviderResponse:
        assert self.code == 0, self.stderr
        return parse_response(self.stdout, api_version)


def kubelet_exec(
    image: str,
    settings: Path,
    env: dict[str, str] | None = None,
    api_version: str = V1,
    stdin: bytes | None = None,
) -> Exec:
    """exec.CommandContext(binDir/name, args...), request on stdin, config env appended, killed at 60 s."""
    argv = [provider_binary(), "--settings", str(settings)]
    full_env = {**os.environ, **(env or {})}
    data = encode_request(image, api_version) if stdin is None else stdin
    result = subprocess.run(argv, input=data, capture_output=True, env=full_env, timeout=60, check=False)
    return Exec(result.returncode, result.stdout, result.stderr.decode("utf-8", "replace"))


def write_settings(path: Path, registries: list[dict[str, Any]], fmt: str = "json", **extra: Any) -> Path:
    """Provider settings as the agent writes them (JSON, a YAML subset), or as YAML."""
    body = {
        "apiVersion": "nodecred.io/v1alpha1",
        "kind": "ProviderSettings",
        "cacheDir": str(path.parent / "cache"),
        "registries": registries,
        **extra,
    }
    path.write_text(json.dumps(body, indent=2) if fmt == "json" else yaml.safe_dump(body))
    return path


Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


@contextmanager
def http_server(handle: Handler) -> Iterator[tuple[str, Counter[str]]]:
    """A loopback HTTP server calling HANDLE(method, path, headers, body); counts requests by path."""
    counts: Counter[str] = Counter()

    class _H(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target") or self.path
            counts[target] += 1
            status, headers, payload = handle(self.command, self.path, dict(self.headers), body)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_CONNECT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    class _Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a client the deadline cut off
                super().handle_error(request, client_address)

    server = _Server(("127.0.0.1", 0), _H)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counts
    finally:
        server.shutdown()
        server.server_close()


def aws_json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()


__all__ = [
    "CodecError",
    "Exec",
    "aws_json",
    "http_server",
    "kubelet_exec",
    "provider_binary",
    "write_settings",
]
