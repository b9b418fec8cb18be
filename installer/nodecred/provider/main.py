"""nodecred-provider: one CredentialProviderRequest on stdin, one response on stdout.

Exit 1 with one line on stderr on any failure; stdout gets nothing unless the
response is complete. No secret reaches stderr, logs or argv.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import BinaryIO, TextIO

from nodecred.errors import NodecredError
from nodecred.kubelet import goduration
from nodecred.kubelet.codec import MAX_REQUEST_BYTES, CodecError, encode_response, parse_request
from nodecred.kubelet.reference import registry_host
from nodecred.provider import respond, settings
from nodecred.provider.backends import create
from nodecred.provider.cache import TokenCache
from nodecred.provider.retry import with_retry
from nodecred.provider.token import Deadline, Token

PROG = "nodecred-provider"


class _ArgError(NodecredError):
    """Arguments the kubelet's config passed that the provider does not take."""


class _Args(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgError(f"{message} (usage: {PROG} [--settings PATH])")


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = _Args(prog=PROG, add_help=False)
    parser.add_argument("--settings", default=settings.DEFAULT_PATH)
    return parser.parse_args(list(argv))


def _answer(stdin: BinaryIO, argv: Sequence[str], env: Mapping[str, str]) -> bytes:
    args = _parse_args(argv)
    request = parse_request(stdin.read(MAX_REQUEST_BYTES + 1))
    config = settings.load(args.settings)
    image = respond.normalized(request.image)
    registry = respond.select_registry(config, image)
    if registry is None:
        return encode_response(respond.unmatched(request.api_version, config))
    host = registry_host(image)
    backend = create(registry.backend, registry.options, dict(env))
    deadline = Deadline(config.timeout / goduration.SECOND)

    def fetch() -> Token:
        return with_retry(lambda: backend.fetch(host, deadline), deadline)

    if backend.cacheable:
        token = TokenCache(config.cache_dir).get(backend.cache_key(host), fetch, deadline)
    else:
        token = fetch()
    duration = respond.cache_duration(token, registry, time.time())
    return encode_response(respond.credentials(request.api_version, host, token, duration))


def run(
    stdin: BinaryIO, stdout: BinaryIO, stderr: TextIO, argv: Sequence[str], env: Mapping[str, str]
) -> int:
    try:
        body = _answer(stdin, argv, env)
    except (NodecredError, CodecError) as err:
        print(f"{PROG}: {err}", file=stderr)
        return 1
    except Exception as err:  # one line, never a traceback (it could hold a secret)
        print(f"{PROG}: internal error ({type(err).__name__})", file=stderr)
        return 1
    stdout.write(body)
    stdout.flush()
    return 0


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(f"{PROG}: gave up before the kubelet's 60s kill\n")
    os._exit(1)


def main() -> None:
    # A last guard under the kubelet's fixed 60 s: whatever hangs, exit 1 with a line.
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(58)
    sys.exit(run(sys.stdin.buffer, sys.stdout.buffer, sys.stderr, sys.argv[1:], os.environ))


if __name__ == "__main__":
    main()
