#!/usr/bin/env bash
# The measurement sweep behind docs/performance.md: every scenario at the
# sizes the document reports, each launching a fresh release-built server.
# Appends one JSON line per run to $OUT (default bench-results.jsonl) and the
# readable summaries to $OUT.txt. Bounded: every run stops by itself.
#
#   cargo build --release -p coliseum-bench -p coliseum-server-bin
#   bash apps/bench/scripts/sweep.sh            # everything (~10 min on 2 cores)
#   BENCH=path/to/coliseum-bench OUT=my.jsonl bash apps/bench/scripts/sweep.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."
BENCH="${BENCH:-${CARGO_TARGET_DIR:-target}/release/coliseum-bench}"
OUT="${OUT:-bench-results.jsonl}"
SECS="${SECS:-10}"
[ -x "$BENCH" ] || { echo "no $BENCH: cargo build --release -p coliseum-bench -p coliseum-server-bin" >&2; exit 2; }

run() {
  echo "== $* (load: $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUT.txt" >&2
  "$BENCH" "$@" >>"$OUT" 2>>"$OUT.txt"
  echo "   exit $?" | tee -a "$OUT.txt" >&2
}

for c in 10 100 1000; do
  run fanout --clients "$c" --senders 10 --rate 1000 --secs "$SECS" --receivers lean
  run fanout --clients "$c" --senders 10 --rate 1000 --secs "$SECS" --receivers client
done
run fanout --clients 100 --senders 10 --rate 0 --window 16 --secs "$SECS" --receivers lean
run fanout --clients 100 --senders 100 --rate 0 --window 4 --secs "$SECS" --receivers lean
for b in 10 100 1000; do
  run onsale --buyers "$b" --capacity $((b * 10)) --max-per-user 10
done
# Every booking one seat: 10,000 bookings instead of ~2,900.
run onsale --buyers 1000 --capacity 10000 --max-per-user 10 --max-quantity 1
# Crash test: SIGKILL 50 ms into the one-seat sale (it lasts ~0.2 s).
run onsale --buyers 1000 --capacity 10000 --max-per-user 10 --max-quantity 1 --kill-after-secs 0.05
run idle --clients 1000
run idle --clients 10000
run login --clients 50
