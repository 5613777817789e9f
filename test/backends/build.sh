#!/usr/bin/env bash
# Build (once) a real OTLP backend for profcol's end-to-end tests and print the
# absolute path of its binary on the LAST line of stdout. All build chatter goes
# to stderr.
#
#   test/backends/build.sh otelcol          # OpenTelemetry Collector (builder)
#   test/backends/build.sh victoriametrics  # VictoriaMetrics single-node
#
# Cache: ${PROFCOL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/profcol}/backends/<name>-<key>
# where <key> = sha256(recipe + version pins [+ builder manifest] + `go version`).
# A build happens in a temp dir next to the cache entry and is moved into place
# with a single rename, so a half-built entry is never visible. Concurrent callers
# are serialised with flock(1) when it is available. The normal Go module cache
# and build cache (GOMODCACHE / GOCACHE) are used, so a rebuild after a key change
# is much faster than a cold one.
#
# Env:
#   PROFCOL_CACHE_DIR   cache root (see above)
#   GO                  go command to use (default: `go` on PATH)
#   PROFCOL_BACKENDS_REBUILD=1  ignore an existing cache entry and rebuild it
set -euo pipefail

# ---- pins -------------------------------------------------------------------
# Bump RECIPE_VERSION whenever the build commands below change in a way that
# alters the produced binary.
RECIPE_VERSION=1
# Collector builder (ocb). Must match the core component versions in
# otelcol/builder-config.yaml.
OCB_MODULE=go.opentelemetry.io/collector/cmd/builder
OCB_VERSION=v0.165.0
# VictoriaMetrics single-node. v1.151.0 is the newest release whose go.mod
# accepts Go 1.26 (`go 1.26.6`); v1.152.0+ require go >= 1.27.1.
VM_MODULE=github.com/VictoriaMetrics/VictoriaMetrics
VM_VERSION=v1.151.0
VM_PKG=$VM_MODULE/app/victoria-metrics
# -----------------------------------------------------------------------------

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="${1:-}"

log() { printf '[backends/build.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$name" in
  otelcol | victoriametrics) ;;
  *) die "usage: $0 <otelcol|victoriametrics>" ;;
esac

GO="${GO:-${PROFCOL_GO:-go}}"
GO_BIN="$(command -v "$GO")" || die "go not found (GO=$GO)"
go_version="$("$GO_BIN" version)"

case "$name" in
  otelcol)
    manifest="$here/otelcol/builder-config.yaml"
    [ -f "$manifest" ] || die "missing $manifest"
    pin="recipe=$RECIPE_VERSION
builder=$OCB_MODULE@$OCB_VERSION
manifest:
$(cat "$manifest")"
    binary_name=profcol-otelcol
    ;;
  victoriametrics)
    pin="recipe=$RECIPE_VERSION
module=$VM_PKG@$VM_VERSION
cgo=0"
    binary_name=victoria-metrics
    ;;
esac

key="$(printf '%s\n%s\n' "$pin" "$go_version" | sha256sum | cut -d' ' -f1)"
cache_root="${PROFCOL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/profcol}"
backends_dir="$cache_root/backends"
final_dir="$backends_dir/$name-$key"
final_bin="$final_dir/bin/$binary_name"

mkdir -p "$backends_dir"
backends_dir="$(cd "$backends_dir" && pwd -P)"
final_dir="$backends_dir/$name-$key"
final_bin="$final_dir/bin/$binary_name"

if [ -x "$final_bin" ] && [ "${PROFCOL_BACKENDS_REBUILD:-0}" != 1 ]; then
  log "cached: $final_bin"
  printf '%s\n' "$final_bin"
  exit 0
fi

# Serialise concurrent builds of the same entry (e.g. parallel test workers).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$backends_dir/.$name-$key.lock"
  log "waiting for build lock ..."
  flock 9
  if [ -x "$final_bin" ] && [ "${PROFCOL_BACKENDS_REBUILD:-0}" != 1 ]; then
    log "cached (built by a concurrent caller): $final_bin"
    printf '%s\n' "$final_bin"
    exit 0
  fi
fi

tmp="$(mktemp -d "$backends_dir/.tmp-$name-XXXXXX")"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$tmp"
mkdir -p "$tmp/bin"

export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
start=$(date +%s)
log "building $name (key ${key:0:16}…) with $go_version"

case "$name" in
  otelcol)
    log "installing $OCB_MODULE@$OCB_VERSION"
    GOBIN="$tmp/tools" "$GO_BIN" install "$OCB_MODULE@$OCB_VERSION" >&2
    # The builder runs `go mod tidy`, which also loads the *tests* of every
    # dependency. fileexporter's tests import contrib's otlpencodingextension,
    # which the module proxy reachable here refuses to serve ("403 Forbidden:
    # This module version is not available"), so a plain tidy fails even though
    # the collector itself never imports it. Hand the builder a `go` wrapper that
    # runs `go mod tidy -e` (tolerate package-loading errors) and is otherwise the
    # real go command.
    mkdir -p "$tmp/tools"
    cat >"$tmp/tools/go" <<WRAP
#!/usr/bin/env bash
if [ "\${1:-}" = mod ] && [ "\${2:-}" = tidy ]; then shift 2; exec "$GO_BIN" mod tidy -e "\$@"; fi
exec "$GO_BIN" "\$@"
WRAP
    chmod +x "$tmp/tools/go"
    # Inject output_path (and the go wrapper) right under the top-level `dist:` key.
    awk -v out="$tmp/src" -v gobin="$tmp/tools/go" '
      { print }
      /^dist:[[:space:]]*$/ { print "  output_path: " out; print "  go: " gobin }
    ' "$manifest" >"$tmp/builder-config.yaml"
    grep -q "output_path: $tmp/src" "$tmp/builder-config.yaml" ||
      die "could not inject dist.output_path (manifest must have a top-level 'dist:' line)"
    (cd "$tmp" && "$tmp/tools/builder" --config "$tmp/builder-config.yaml") >&2
    [ -x "$tmp/src/$binary_name" ] || die "builder produced no $tmp/src/$binary_name"
    mv "$tmp/src/$binary_name" "$tmp/bin/$binary_name"
    cp "$tmp/builder-config.yaml" "$tmp/builder-config.used.yaml"
    cp "$tmp/src/go.mod" "$tmp/go.mod.used"
    ;;
  victoriametrics)
    # `go install module@version` works because VictoriaMetrics' go.mod has no
    # replace directives at this version.
    CGO_ENABLED=0 GOBIN="$tmp/bin" "$GO_BIN" install \
      -ldflags "-s -w -X $VM_MODULE/lib/buildinfo.Version=victoria-metrics-$VM_VERSION-profcol" \
      "$VM_PKG@$VM_VERSION" >&2
    [ -x "$tmp/bin/$binary_name" ] || die "go install produced no $tmp/bin/$binary_name"
    ;;
esac

"$tmp/bin/$binary_name" --version >&2 2>&1 || true
printf '%s\n%s\n' "$pin" "$go_version" >"$tmp/KEY_INPUT"
printf '%s\n' "$(($(date +%s) - start))" >"$tmp/BUILD_SECONDS"
# Keep only what is needed; drop the generated sources / builder binary.
rm -rf "$tmp/src" "$tmp/tools"

if [ -e "$final_dir" ]; then
  # Only reached with PROFCOL_BACKENDS_REBUILD=1 or a broken entry: swap it out.
  old="$(mktemp -d "$backends_dir/.old-$name-XXXXXX")"
  mv "$final_dir" "$old/" && rm -rf "$old"
fi
mv "$tmp" "$final_dir"
trap - EXIT
log "built $name in $(cat "$final_dir/BUILD_SECONDS")s -> $final_bin"
printf '%s\n' "$final_bin"
