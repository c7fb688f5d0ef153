#!/usr/bin/env bash
# Runs the experiments of the benchmarks page and renders the page.
#
#   scripts/bench.sh                the full plan (about 20 minutes on 2 cores): writes
#                                   bench-results/*.json, docs/src/benchmarks.md, its
#                                   Chinese edition docs/zh/src/benchmarks.md and
#                                   docs/src/img/bench-*.svg
#   scripts/bench.sh --quick        a short plan (a few minutes), into target/bench-quick/;
#                                   the committed results and the pages are left alone
#   scripts/bench.sh --render-only  re-renders both pages and the charts from bench-results/
#
# Further arguments go to bench-suite, e.g. `--only 1,5` for experiments 1 and 5.
# `--only 8` runs experiment 8 (the read size: epoll-edge and floor-echo) alone.
# System calls are counted with `perf stat` if it can read the syscall tracepoints
# (root, or kernel.perf_event_paranoid <= -1), else with `strace -c -f`.
# The numbers are only as quiet as the machine: close what you can first.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
case "${1:-}" in
    --quick) mode=quick; shift ;;
    --render-only) mode=render; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

start=$(date +%s)
cargo build --release --workspace --bins --quiet
bin=${CARGO_TARGET_DIR:-target}/release

case "$mode" in
    full)
        results=bench-results page=docs/src/benchmarks.md img=docs/src/img
        zh_page=docs/zh/src/benchmarks.md
        "$bin/bench-suite" --out "$results" --command "scripts/bench.sh${*:+ $*}" "$@"
        ;;
    quick)
        results=target/bench-quick/results page=target/bench-quick/benchmarks.md img=target/bench-quick/img
        zh_page=target/bench-quick/zh/benchmarks.md
        rm -rf target/bench-quick
        "$bin/bench-suite" --quick --out "$results" --command "scripts/bench.sh --quick${*:+ $*}" "$@"
        ;;
    render)
        results=bench-results page=docs/src/benchmarks.md img=docs/src/img
        zh_page=docs/zh/src/benchmarks.md
        ;;
esac

# Both editions' pages in one run: the Chinese page records the English one.
"$bin/bench-render" --results "$results" --page "$page" --img "$img" --zh-page "$zh_page"
echo "bench.sh: $mode run done in $(( $(date +%s) - start )) s; pages: $page, $zh_page" >&2
