#!/usr/bin/python3
"""A kubelet stand-in for the systemd-node tests (never shipped): the kubelet's start-up rules for
the credential provider flags, /healthz on 127.0.0.1:10248, and one provider exec at start.

Start-up, as kubelet does it (kubelet-contract.md section 4): a missing bin dir, an unreadable
or invalid config, or a provider without an executable binary -> exit 1. The config is judged
by nodecred.kubelet (copied next to this file), the port of the kubelet's own loader.
/etc/standin/reject-pattern names a matchImages pattern this "kubelet" fails on (exit 1), so a
test can make exactly one change fail after the restart, as a kubelet bug would.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, "/opt/standin")

from nodecred.kubelet.load import LoadError, check, read_path

CONFIG_FLAG = "--image-credential-provider-config"
BIN_DIR_FLAG = "--image-credential-provider-bin-dir"


def last_value(argv: list[str], flag: str) -> str:
    value = ""
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif word.startswith(flag + "="):
            value = word[len(flag) + 1 :]
    return value


def fail(message: str) -> None:
    print(message, flush=True)
    sys.exit(1)


def exec_providers(config: str, bin_dir: str) -> None:
    try:
        loaded = read_path(config)
        check(loaded)
    except LoadError as err:
        fail(f"E failed to register credential providers: {err}")
    if os.path.exists("/etc/standin/reject-pattern"):
        with open("/etc/standin/reject-pattern", encoding="utf-8") as handle:
            rejected = handle.read().strip()
        if any(rejected in p.match_images for p in loaded.config.providers):
            fail(f"E panic: cannot compile matchImages pattern {rejected!r}")
    for provider in loaded.config.providers:
        path = os.path.join(bin_dir, provider.name)
        if not os.access(path, os.X_OK):
            fail(f'E plugin binary executable "{path}" did not exist')
    image = "registry.example.com/team/app:1.0"
    pull = os.path.exists("/etc/standin/image")  # the demo: its own image, and a real pull check
    if pull:
        with open("/etc/standin/image", encoding="utf-8") as handle:
            image = handle.read().strip()
    for provider in loaded.config.providers:
        request = json.dumps(
            {"apiVersion": provider.api_version, "kind": "CredentialProviderRequest", "image": image}
        )
        env = {**os.environ, **{e.name: e.value for e in provider.env}}
        result = subprocess.run(
            [os.path.join(bin_dir, provider.name), *provider.args],
            input=request.encode(),
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            print(f"provider {provider.name} failed: {result.stderr.decode()[:200]}", flush=True)
            continue
        answer = json.loads(result.stdout)
        users = sorted(a.get("username", "") for a in answer.get("auth", {}).values())
        # Never the password: only who the registry would see.
        print(
            f"provider {provider.name} answered for {image}: cacheKeyType={answer.get('cacheKeyType')} "
            f"auth={sorted(answer.get('auth', {}))} users={users}",
            flush=True,
        )
        if pull:
            check_pull(image, answer.get("auth", {}))


def check_pull(image: str, auth: dict[str, dict[str, str]]) -> None:
    """What the container runtime does with the answer first: GET /v2/ with the credential."""
    host = image.split("/", 1)[0]
    entry = auth.get(host)
    if entry is None:
        print(f"no credential for {host}", flush=True)
        return
    token = base64.b64encode(f"{entry['username']}:{entry['password']}".encode()).decode()
    request = urllib.request.Request(f"http://{host}/v2/", headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    print(f"GET http://{host}/v2/ with the provider's credential: {status}", flush=True)


class Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok" if self.path == "/healthz" else b"not found"
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    argv = sys.argv[1:]
    print("kubelet stand-in started with: " + " ".join(argv), flush=True)
    config, bin_dir = last_value(argv, CONFIG_FLAG), last_value(argv, BIN_DIR_FLAG)
    if config or bin_dir:
        if not os.path.isdir(bin_dir):
            fail(f'E plugin binary directory "{bin_dir}" did not exist')
        exec_providers(config, bin_dir)
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    http.server.ThreadingHTTPServer(("127.0.0.1", 10248), Healthz).serve_forever()


if __name__ == "__main__":
    main()
