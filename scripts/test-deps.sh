#!/usr/bin/env bash
# Debian packages the test tiers run for real: a distribution registry with htpasswd auth, and
# debootstrap + systemd-nspawn for the real systemd node of the host tier.
# Idempotent and quick when they are present; needs root (as CI and the dev machines are).
set -euo pipefail
missing=()
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
command -v setpriv >/dev/null || missing+=(util-linux)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
if ((${#missing[@]})); then
    echo "installing test dependencies: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
