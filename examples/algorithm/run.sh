#!/bin/sh
# Plaintext entry point (a secret entry point must be wrapped by a plaintext script).
set -eu
cd "$(dirname "$0")"
exec python3 algo.py
