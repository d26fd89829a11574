#!/usr/bin/env bash
# Protocol checks (ADR 0007): `buf lint` (STANDARD) on proto/readnet and `buf breaking` (FILE)
# against the schema of the last release, proto/baseline/readnet-v1.binpb. Stored events must stay
# readable for ever; the breaking check is what keeps a change to events.proto from slipping in.
#
#   bash .ci/proto.sh            lint and check against the baseline
#   bash .ci/proto.sh baseline   the same, then make the current schema the baseline (a release)
#
# Needs node and npm. The buf CLI is installed with `npm ci` from .ci/buf/package-lock.json (a
# pinned version, checked against the lock's hashes) into target/buf, which git ignores.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-check}
case "$mode" in
  check | baseline) ;;
  *) echo "usage: bash .ci/proto.sh [baseline]" >&2; exit 2 ;;
esac

if ! command -v npm >/dev/null; then
  echo "== installing node and npm (Debian: nodejs, npm)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update
  $sudo apt-get install -y nodejs npm
fi

tools=target/buf
buf=$tools/node_modules/.bin/buf
pinned=$(node -p 'require("./.ci/buf/package.json").dependencies["@bufbuild/buf"]')
if [ ! -x "$buf" ] || [ "$("$buf" --version)" != "$pinned" ] \
  || ! cmp -s .ci/buf/package-lock.json "$tools/package-lock.json"; then
  echo "== installing buf $pinned (npm ci)"
  mkdir -p "$tools"
  cp .ci/buf/package.json .ci/buf/package-lock.json "$tools/"
  # The package's install script only swaps its launcher for the native binary; without it the
  # launcher runs the same binary from the platform package.
  npm ci --prefix "$tools" --ignore-scripts --no-audit --no-fund
fi
echo "== buf $("$buf" --version)"

echo "== buf lint"
"$buf" lint proto

baseline=proto/baseline/readnet-v1.binpb
echo "== buf breaking against $baseline"
"$buf" breaking proto --against "$baseline"

if [ "$mode" = baseline ]; then
  echo "== the current schema becomes the baseline: $baseline"
  "$buf" build proto --exclude-source-info -o "$baseline"
fi
echo "== protocol checks passed"
