#!/usr/bin/env bash
# Installs the command-line tools the tests shell out to when they are missing: zstd and
# lz4 compress test inputs the way real clients' encoders do (streaming frames without a
# content size). Go must already be on the PATH (see README).
set -euo pipefail
missing=()
for tool in zstd lz4; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if ! command -v go >/dev/null 2>&1; then
  echo "the tests need Go on the PATH (they build real Go programs and backends)" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} for the tests (apt-get)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "the tests need: ${missing[*]} (e.g. sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
