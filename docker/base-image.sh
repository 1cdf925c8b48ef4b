#!/usr/bin/env bash
# Make the local base image (Debian bookworm, minbase, python3) without a registry.
# Usage: docker/base-image.sh [IMAGE_NAME]   (default proctor-base:bookworm)
# Does nothing when the image already exists; set FORCE=1 to rebuild.
set -euo pipefail
name="${1:-proctor-base:bookworm}"
if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$name" >/dev/null 2>&1; then
    echo "base image $name exists"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm into $root (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# apt caches and logs are dead weight in an image.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
tar -C "$root" -c . | docker import - "$name" >/dev/null
echo "base image $name made"
