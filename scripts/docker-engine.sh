#!/usr/bin/env bash
# A Docker engine for `make image` and the image tests: Debian's docker.io, started by hand when none
# answers (this machine kind boots no services). Idempotent.
set -euo pipefail
if ! command -v dockerd >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
docker info >/dev/null 2>&1 && exit 0
mkdir -p /var/log
nohup setsid dockerd >/var/log/nodecred-dockerd.log 2>&1 </dev/null &
for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 0.5
done
echo "error: dockerd did not start; see /var/log/nodecred-dockerd.log" >&2
exit 1
