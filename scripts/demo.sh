#!/usr/bin/env bash
# Runs a chapter's server and the two-socket client against it, then shows
# both transcripts: what you would see in two terminals, in one command.
# Each transcript's header is the command that gives the same run by hand,
# with the port the server really listened on.
#
# Usage: scripts/demo.sh CHAPTER [SERVER FLAGS...]
#   e.g. scripts/demo.sh select-queue
#        scripts/demo.sh poll-queue --capitalize
#   PORT=10001 scripts/demo.sh select-queue   if port 10000 is taken
#   (or --port 10001 among the server flags; PORT=0 picks a free port).
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

# A --port among the server flags is the port; the others go to the server.
flags=()
while [ $# -gt 0 ]; do
  case $1 in
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --port=*) port=${1#--port=}; shift ;;
    *) flags+=("$1"); shift ;;
  esac
done

log=$(mktemp)
"$bin/$chapter" ${flags[@]+"${flags[@]}"} --port "$port" 2>"$log" </dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q '^starting up on' "$log" && break
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; exit 1; fi
  sleep 0.1
done
# The port the server says it listens on: the one asked for, or the one the
# system picked for --port 0.
port=$(sed -n 's/^starting up on .* port \([0-9]*\)$/\1/p' "$log" | head -n 1)
if [ -z "$port" ]; then
  echo "the server did not say it was listening:" >&2; cat "$log" >&2; exit 1
fi
client=$("$bin/multiclient" --port "$port" 2>&1) || { echo "$client" >&2; exit 1; }
for _ in $(seq 50); do
  [ "$(grep -c '^closing (' "$log" || true)" -ge 2 ] && break
  sleep 0.1
done
sleep 0.2
# The commands of the headers: the defaults left out, as a reader types them.
server_args=(${flags[@]+"${flags[@]}"})
client_args=()
if [ "$port" != 10000 ]; then
  server_args+=(--port "$port")
  client_args+=(--port "$port")
fi
echo "=== server: cargo run -p $chapter${server_args[*]:+ -- ${server_args[*]}}"
cat "$log"
echo
echo "=== client: cargo run -p multiclient${client_args[*]:+ -- ${client_args[*]}}"
echo "$client"
