#!/usr/bin/env bash
# Runs a chapter's server and the two-socket client against it, then shows
# both transcripts: what you would see in two terminals, in one command.
#
# Usage: scripts/demo.sh CHAPTER [SERVER FLAGS...]
#   e.g. scripts/demo.sh select-queue
#        scripts/demo.sh poll-queue --capitalize
#   PORT=10001 scripts/demo.sh select-queue   if port 10000 is taken.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 CHAPTER [SERVER FLAGS...]   (e.g. $0 select-queue)" >&2
  exit 2
fi
chapter=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --quiet -p "$chapter" -p multiclient
bin=${CARGO_TARGET_DIR:-$root/target}/debug
port=${PORT:-10000}

log=$(mktemp)
"$bin/$chapter" "$@" --port "$port" 2>"$log" </dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q '^starting up on' "$log" && break
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; exit 1; fi
  sleep 0.1
done
client=$("$bin/multiclient" --port "$port" 2>&1) || { echo "$client" >&2; exit 1; }
for _ in $(seq 50); do
  [ "$(grep -c '^closing (' "$log" || true)" -ge 2 ] && break
  sleep 0.1
done
sleep 0.2
echo "=== server: cargo run -p $chapter${*:+ -- $*}"
cat "$log"
echo
echo "=== client: cargo run -p multiclient"
echo "$client"
