"""Provider benchmark: binary size, wall time of invocations, token calls under concurrency.

Prints figures; not a test. Needs `make provider` first. Run: .venv/bin/python bench/provider.py
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.provider.clouds import FakeAzure, FakeGce, FakeOci  # noqa: E402
from tests.provider.conftest import _Counting  # noqa: E402
from tests.provider.harness import http_server, install_frozen, write_settings  # noqa: E402

from nodecred.kubelet.codec import encode_request  # noqa: E402

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app"
RUNS = 30


def moto(counting: _Counting) -> str:
    from moto.ecr.responses import ECRResponse
    from werkzeug.serving import make_server

    original = ECRResponse.get_authorization_token

    def twelve_hours(self: Any) -> Any:  # moto's tokens expire in 2015; real ones live 12 h
        result = original(self)
        for entry in result.result["authorizationData"]:
            entry["expiresAt"] = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=12)
        return result

    ECRResponse.get_authorization_token = twelve_hours  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def timed(binary: str, settings: Path, image: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [binary, "--settings", str(settings)],
        input=encode_request(image),
        capture_output=True,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"provider failed: {result.stderr.decode()}")
    return elapsed * 1000


def figures(label: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label:<28} p50 {statistics.median(samples):7.1f} ms   p95 {p95:7.1f} ms   (n={len(samples)})")


CLOUDS: list[tuple[str, Any, str, Any]] = [
    (
        "OCIR",
        FakeOci,
        "iad.ocir.io/ns/app",
        lambda ep: {
            "ocir": {"metadataEndpoint": ep + "/opc/v2", "federationEndpoint": ep, "registryEndpoint": ep}
        },
    ),
    ("GCP", FakeGce, "us-docker.pkg.dev/p/r/app", lambda ep: {"gcp": {"metadataEndpoint": ep}}),
    (
        "ACR",
        FakeAzure,
        "contoso.azurecr.io/app",
        lambda ep: {"acr": {"metadataEndpoint": ep, "registryEndpoint": ep}},
    ),
]


def clouds(binary: str, work: Path, env: dict[str, str]) -> None:
    """Miss and hit against loopback fakes of each cloud's endpoints (an OCI miss makes an RSA key)."""
    for name, fake, image, options in CLOUDS:
        with http_server(fake()) as (endpoint, _):
            match = [image.split("/", 1)[0]]
            settings = write_settings(work / "c.json", [{"match": match, **options(endpoint)}])
            misses = []
            for _ in range(RUNS // 3):
                shutil.rmtree(work / "cache", ignore_errors=True)
                misses.append(timed(binary, settings, image, env))
            figures(f"cache miss ({name} fake)", misses)
            figures(f"cache hit ({name} token)", [timed(binary, settings, image, env) for _ in range(RUNS)])


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import DomainDispatcherApplication, create_backend_app

    counting = _Counting(DomainDispatcherApplication(create_backend_app))
    endpoint = moto(counting)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_ECR": endpoint,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    size = sum(f.stat().st_size for f in (ROOT / "dist" / "nodecred-provider").rglob("*") if f.is_file())
    print(f"binary (onedir) size          {size / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        binary = install_frozen(ROOT / "dist" / "nodecred-provider", work / "provider")
        settings = write_settings(work / "p.yaml", [{"match": ["*.dkr.ecr.*.amazonaws.com"], "ecr": {}}])
        figures("unmatched image", [timed(binary, settings, "quay.io/x", env) for _ in range(RUNS)])
        misses = []
        for _ in range(RUNS // 3):
            shutil.rmtree(work / "cache", ignore_errors=True)
            misses.append(timed(binary, settings, IMAGE, env))
        figures("cache miss (moto ECR)", misses)
        figures("cache hit (ECR token)", [timed(binary, settings, IMAGE, env) for _ in range(RUNS)])
        clouds(binary, work, env)
        shutil.rmtree(work / "cache", ignore_errors=True)
        target = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
        before = counting.counts[target]
        with ThreadPoolExecutor(max_workers=50) as pool:
            walls = list(pool.map(lambda _: timed(binary, settings, IMAGE, env), range(50)))
        print(
            f"50 concurrent cold calls      {counting.counts[target] - before} token call(s), "
            f"slowest {max(walls):.0f} ms"
        )


if __name__ == "__main__":
    main()
