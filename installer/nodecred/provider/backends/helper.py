"""Docker credential helpers: `docker-credential-NAME get`, server URL on stdin."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from typing import Any

from nodecred.kubelet import goduration
from nodecred.provider.token import ACR_NULL_USER, BackendError, Deadline, Token

NOT_FOUND = "credentials not found in native keychain"
ACR_SUFFIXES = (".azurecr.io", ".azurecr.cn", ".azurecr.us", ".azurecr.de")
DEFAULT_CACHE = 10 * 60.0


class HelperBackend:
    cacheable = True

    def __init__(self, name: str, timeout: float, env: dict[str, str]) -> None:
        self.name = name
        self.timeout = timeout
        self.env = env

    def cache_key(self, host: str) -> str:
        return f"helper/{self.name}/{host}"

    def _run(self, host: str, deadline: Deadline) -> str:
        program = shutil.which(f"docker-credential-{self.name}", path=self.env.get("PATH"))
        if program is None:
            raise BackendError(
                f"docker-credential-{self.name} is not on the kubelet's PATH; install it or fix PATH"
            )
        try:
            result = subprocess.run(
                [program, "get"],
                input=host.encode(),
                capture_output=True,
                env=self.env,
                timeout=min(self.timeout, deadline.remaining()),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BackendError(f"docker-credential-{self.name} get did not answer in time") from None
        stdout = result.stdout.decode("utf-8", errors="replace").strip()
        if result.returncode != 0:
            if stdout == NOT_FOUND:
                raise BackendError(f"docker-credential-{self.name} has no credentials for {host}")
            # Helpers print their error on stdout; it names no secret by protocol, but keep one line.
            reason = "".join((stdout or result.stderr.decode("utf-8", "replace").strip()).splitlines()[:1])
            raise BackendError(
                f"docker-credential-{self.name} get failed (exit {result.returncode}): {reason[:200]}"
            )
        return stdout

    def fetch(self, host: str, deadline: Deadline) -> Token:
        try:
            answer = json.loads(self._run(host, deadline))
            username, secret = str(answer["Username"]), str(answer["Secret"])
        except (ValueError, KeyError, TypeError):
            raise BackendError(
                f"docker-credential-{self.name} get printed no {{Username, Secret}} JSON"
            ) from None
        if username == "<token>":
            # An identity (refresh) token. Docker sends it to the registry's token endpoint; the
            # kubelet's API carries only username/password, which ACR accepts with its null user.
            if not host.split(":", maxsplit=1)[0].endswith(ACR_SUFFIXES):
                raise BackendError(
                    f"docker-credential-{self.name} returned an identity token for {host}; the kubelet can "
                    "only pass username/password, so configure a helper that returns basic credentials"
                )
            username = ACR_NULL_USER
        return Token(username, secret, time.time() + DEFAULT_CACHE)


def build(options: dict[str, Any], env: dict[str, str]) -> HelperBackend:
    timeout = goduration.parse(str(options.get("timeout", "10s"))) / goduration.SECOND
    return HelperBackend(str(options["name"]), timeout, env)
