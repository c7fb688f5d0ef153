#!/usr/bin/env bash
# Builds the book's two editions: the English one into docs/book, the
# Chinese one into docs/book/zh (so each can link to the other), then
# rewrites the Chinese edition's search index so that its search finds
# Chinese words (crates/book-search says how). Open docs/book/index.html,
# or docs/book/zh/index.html.
#
# Uses mdBook 0.5.4: $MDBOOK, else ~/.cargo/bin/mdbook, else the one on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.5.4
mdbook=
for candidate in "${MDBOOK:-}" "${CARGO_HOME:-$HOME/.cargo}/bin/mdbook" mdbook; do
  if [ -n "$candidate" ] && "$candidate" --version 2>/dev/null | grep -qx "mdbook v$version"; then
    mdbook=$candidate
    break
  fi
done
if [ -z "$mdbook" ]; then
  echo "scripts/book.sh: no mdBook $version; install it with" >&2
  echo "  cargo install mdbook --version $version --locked --no-default-features --features search" >&2
  exit 1
fi

# The English build empties docs/book first, so it goes first.
"$mdbook" build docs
"$mdbook" build docs/zh
cargo run --quiet -p book-search -- docs/book/zh
echo "built docs/book/index.html (English) and docs/book/zh/index.html (Chinese)"
