#!/usr/bin/env bash
# Captures each chapter's transcripts from a real run, the way a learner makes
# them (server in one terminal, `cargo run -p multiclient` in another), into
# docs/transcripts/<chapter>/server.txt and client.txt. The first line of each
# file is the command that produced it. The tests compare these files with a
# fresh run, connection by connection, so rerun this after changing a log line.
#
# Usage: scripts/transcripts.sh [CHAPTER...]
#   Default: every chapter with a folder in docs/transcripts/. A file
#   docs/transcripts/<chapter>/flags holds extra server flags, if any, and a
#   file docs/transcripts/<chapter>/package names the server's package when
#   it is not the folder's name (one package run with different flags).
#   PORT=10001 scripts/transcripts.sh   if port 10000 is taken.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --quiet --workspace
bin=${CARGO_TARGET_DIR:-$root/target}/debug
port=${PORT:-10000}

chapters=("$@")
if [ ${#chapters[@]} -eq 0 ]; then
  for d in docs/transcripts/*/; do chapters+=("$(basename "$d")"); done
fi

wait_for() { # wait_for FILE PATTERN COUNT: bounded to 10 s
  for _ in $(seq 100); do
    [ "$(grep -c -- "$2" "$1" || true)" -ge "$3" ] && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

for ch in "${chapters[@]}"; do
  dir=docs/transcripts/$ch
  mkdir -p "$dir"
  flags=$(cat "$dir/flags" 2>/dev/null || true)
  package=$(cat "$dir/package" 2>/dev/null || echo "$ch")
  log=$(mktemp)
  # shellcheck disable=SC2086 # flags are words
  "$bin/$package" $flags --port "$port" 2>"$log" </dev/null &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  wait_for "$log" "^starting up on" 1
  client=$("$bin/multiclient" --port "$port" 2>&1)
  wait_for "$log" "^closing (" 2
  sleep 0.3
  kill "$pid"; wait "$pid" 2>/dev/null || true
  trap - EXIT
  printf '$ cargo run -p multiclient\n%s\n' "$client" >"$dir/client.txt"
  { printf '$ cargo run -p %s%s\n' "$package" "${flags:+ -- $flags}"; cat "$log"; } >"$dir/server.txt"
  rm -f "$log"
  echo "captured $dir"
done
