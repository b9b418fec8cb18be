#!/usr/bin/env bash
# A local Debian base image for image/Dockerfile, for machines that reach Debian's mirror but no
# container registry: debootstrap (minbase + python3) -> `docker import`. Idempotent.
# Usage: scripts/image-base.sh [TAG]   (default nodecred-base:bookworm)
set -euo pipefail
tag=${1:-nodecred-base:bookworm}
mirror=${NODECRED_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$tag" >/dev/null 2>&1; then
    exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$root" "$mirror" >/dev/null
# What a registry's debian:bookworm-slim leaves out too: apt lists and caches, docs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "built $tag"
