"""Ask the installed provider, on the host, for each registry's probeImage: a broken identity
shows on the Node (e.g. the missing IAM action) before a pod hits ImagePullBackOff."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from nodecred.host.settings import PROVIDER_NAME, HostSettings
from nodecred.kubelet.codec import CodecError, encode_request, parse_response
from nodecred.kubelet.reference import ReferenceError, registry_host
from nodecred.provider import settings as provider_settings

V1 = "credentialprovider.kubelet.k8s.io/v1"
Runner = Callable[[list[str], bytes], tuple[int, bytes, bytes]]


def host_runner(root: str, nsenter: bool) -> Runner:
    """Run a host binary as the kubelet would: in the host's mount namespace (or chroot ROOT)."""
    prefix = ["nsenter", "-t", "1", "-m", "--"] if nsenter else ["chroot", root]

    def run(argv: list[str], stdin: bytes) -> tuple[int, bytes, bytes]:
        try:
            result = subprocess.run(
                [*prefix, *argv], input=stdin, capture_output=True, timeout=60, check=False
            )
        except subprocess.TimeoutExpired:
            return -1, b"", b"the provider did not answer within the kubelet's 60 s"
        except OSError as err:
            return -1, b"", str(err).encode()
        return result.returncode, result.stdout, result.stderr

    return run


def probe(settings: HostSettings, run: Runner) -> str:
    """JSON {registry: "ok" | the provider's one-line error}; "" when no registry has a probeImage."""
    parsed = provider_settings.parse(json.dumps(settings.provider_settings).encode(), "provider settings")
    binary = f"{settings.paths.bin_dir}/{PROVIDER_NAME}"
    results: dict[str, str] = {}
    for registry in parsed.registries:
        if not registry.probe_image:
            continue
        try:
            host = registry_host(registry.probe_image)
        except ReferenceError as bad:
            results[registry.probe_image] = f"bad probeImage: {bad}"
            continue
        code, out, stderr = run(
            [binary, "--settings", settings.paths.provider_settings], encode_request(registry.probe_image)
        )
        if code != 0:
            line = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {code}"]
            results[host] = line[0][:300]
            continue
        try:
            response = parse_response(out, V1)
        except CodecError as error:
            results[host] = f"unreadable answer: {error}"
            continue
        results[host] = "ok" if response.auth else "no credentials returned"
    return json.dumps(results, sort_keys=True, separators=(",", ":")) if results else ""
