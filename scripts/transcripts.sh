#!/usr/bin/env bash
# Captures each chapter's transcripts from a real run, the way a learner makes
# them (server in one terminal, `cargo run -p multiclient` in another), into
# docs/transcripts/<chapter>/server.txt and client.txt. The first line of each
# file is the command that produced it. The tests compare these files with a
# fresh run, connection by connection, so rerun this after changing a log line.
# The pages of the book keep copies of the transcripts; after capturing, this
# copies the new files into them (BOOK_BLESS=1 cargo test -p book-tests), so
# `cargo test -p book-tests` passes again. `git diff docs/` shows the changes.
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
  # The first line is the command that gives this run by hand: with the
  # port, when it is not the default.
  server_args=$flags client_args=
  if [ "$port" != 10000 ]; then
    server_args="${flags:+$flags }--port $port" client_args="--port $port"
  fi
  printf '$ cargo run -p multiclient%s\n%s\n' "${client_args:+ -- $client_args}" "$client" >"$dir/client.txt"
  { printf '$ cargo run -p %s%s\n' "$package" "${server_args:+ -- $server_args}"; cat "$log"; } >"$dir/server.txt"
  rm -f "$log"
  echo "captured $dir"
done

# The pages show the transcripts verbatim: copy the new captures into them.
if ! out=$(BOOK_BLESS=1 cargo test --quiet -p book-tests --test book \
  excerpts_and_transcripts_equal_their_sources 2>&1); then
  echo "$out" >&2
  echo "the captures are in docs/transcripts, but copying them into the pages failed (above)" >&2
  exit 1
fi
echo "copied the transcripts into the pages of docs/src and docs/zh/src (git diff docs/ shows the changes)"
