#!/usr/bin/env bash
# The crate boundaries ARCHITECTURE.md states, checked on the dependency graph: each line names a
# crate (with the cargo-tree options to resolve it with) and the crates it must not depend on,
# directly or through others (normal dependencies: what ships in it).
set -euo pipefail
cd "$(dirname "$0")/.."

# crate | cargo tree options | forbidden crates (regex of names)
rules=(
  "readnet-domain||tonic|tokio|readnet-store|readnet-ledger|readnet-projection|readnet-server|kurrentdb"
  "readnet-proto||tonic|tokio"
  "readnet-store||tonic|kurrentdb|readnet-domain|readnet-proto"
  "readnet-store|--no-default-features|tonic|kurrentdb|crc32c|readnet-domain"
  "readnet-ledger||tonic|kurrentdb|readnet-projection|readnet-server|readnet-availability|readnet-statistics|readnet-settlement"
  "readnet-projection||kurrentdb|readnet-server|readnet-kurrentdb-endpoint|readnet-sim|readnet-bench"
  "readnet-availability||kurrentdb|readnet-server|readnet-kurrentdb-endpoint|readnet-statistics|readnet-settlement"
  "readnet-statistics||kurrentdb|readnet-server|readnet-kurrentdb-endpoint|readnet-availability|readnet-settlement"
  "readnet-settlement||kurrentdb|readnet-server|readnet-kurrentdb-endpoint|readnet-availability|readnet-statistics"
  "readnet-notices||kurrentdb|readnet-server|readnet-kurrentdb-endpoint|readnet-availability|readnet-statistics|readnet-settlement"
  "readnet-kurrentdb-endpoint||kurrentdb|readnet-ledger|readnet-projection|readnet-server|readnet-availability|readnet-statistics|readnet-settlement"
  "readnet-tlog||tonic|kurrentdb|readnet-domain|readnet-proto|readnet-ledger|readnet-projection|readnet-server"
  "readnet-audit||tonic|kurrentdb|readnet-projection|readnet-server|readnet-availability|readnet-statistics|readnet-settlement"
  "readnet-server||kurrentdb|readnet-kurrentdb-endpoint|readnet-sim|readnet-bench|rusqlite|libsqlite3-sys"
  "readnet-console||kurrentdb|readnet-kurrentdb-endpoint|readnet-sim|readnet-bench|rusqlite|libsqlite3-sys"
  "readnet||readnet-sim|readnet-bench|rusqlite|libsqlite3-sys"
  "readnet|--no-default-features|kurrentdb|readnet-sim|readnet-bench|rusqlite|libsqlite3-sys"
)

failed=0
for rule in "${rules[@]}"; do
  IFS='|' read -r crate options forbidden <<<"$rule"
  pattern="${rule#*|*|}"
  # shellcheck disable=SC2086
  found=$(cargo tree -p "$crate" $options -e normal --prefix none --locked 2>/dev/null \
    | sed 's/ (\*)$//' | awk '{print $1}' | sort -u | grep -Ex "$pattern" || true)
  if [ -n "$found" ]; then
    echo "boundary broken: $crate ${options:+($options) }depends on: $(echo "$found" | tr '\n' ' ')"
    cargo tree -p "$crate" $options -e normal --locked -i "$(echo "$found" | head -1)" 2>/dev/null | head -20
    failed=1
  else
    echo "ok: $crate ${options:+($options) }depends on none of: ${pattern//|/ }"
  fi
done
exit $failed
