#!/usr/bin/env bash
# `make image`: build image/Dockerfile as nodecred:dev (or $IMAGE) on a machine that reaches Debian's
# mirror and PyPI but no container registry: a local base (scripts/image-base.sh) and the wheels
# downloaded here, so the build itself needs only Debian's mirror (for the builder's make/patchelf).
# With a registry, plain `docker build -f image/Dockerfile .` uses debian:bookworm-slim and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${IMAGE:-nodecred:dev}
base=${BASE_IMAGE:-nodecred-base:bookworm}
python=${PYTHON:-python3}
bash scripts/docker-engine.sh
bash scripts/image-base.sh "$base"
wheels=build/image-wheels
rm -rf "$wheels"
"$python" -m pip download --quiet --dest "$wheels" . pyinstaller setuptools wheel 2>&1 | grep -v '^WARNING' || true
rm -f "$wheels"/nodecred-*
docker build --quiet --network host -f image/Dockerfile \
    --build-arg BASE_IMAGE="$base" \
    --build-arg PIP_FIND_LINKS=/src/$wheels --build-arg PIP_NO_INDEX=1 \
    --build-arg VERSION="$("$python" -c 'import nodecred; print(nodecred.__version__)')" \
    --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -t "$image" . >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
