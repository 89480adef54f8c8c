#!/usr/bin/env bash
# Runs one coliseum-bench scenario against N coliseum-server instances on one
# MongoDB (and, for N > 1, one NATS), all on this machine: the figures of
# docs/performance.md's "Several instances" section (issue 15).
#
#   scripts/bench-cluster.sh N SCENARIO [BENCH FLAGS...]
#   e.g. scripts/bench-cluster.sh 3 fanout --clients 3000 --senders 10 --rate 1000 --secs 20
#        scripts/bench-cluster.sh 1 onsale --buyers 1000 --capacity 10000 --max-per-user 10
#
# Needs: release builds (cargo build --release -p coliseum-bench
# -p coliseum-server-bin), the MongoDB-wire test server running
# (scripts/mongo-test-server.sh start) or COLISEUM_BENCH_MONGODB_URI, and
# nats-server on the PATH for N > 1. Each run uses a fresh database; the
# instances are stopped at the end. The bench's JSON line goes to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:?usage: bench-cluster.sh N SCENARIO [FLAGS...]}"
scenario="${2:?usage: bench-cluster.sh N SCENARIO [FLAGS...]}"
shift 2
uri="${COLISEUM_BENCH_MONGODB_URI:-mongodb://127.0.0.1:27017}"
server="$here/target/release/coliseum-server"
bench="$here/target/release/coliseum-bench"
work="$(mktemp -d)"
db="coliseum_bench_$(date +%s)_$$"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

common=(--mongodb-uri "$uri" --mongodb-db "$db" --insecure-plaintext
  --chat-rate 0 --register-rate 0 --max-connections 20000
  --max-connections-per-ip 0 --log warn)

printf 'bench-admin-password\n' | "$server" --data-dir "$work/admin" "${common[@]}" \
  admin add benchadmin >/dev/null

nats_flags=()
if [ "$n" -gt 1 ]; then
  port="$(free_port)"
  PATH="$PATH:/usr/sbin" nats-server -a 127.0.0.1 -p "$port" >"$work/nats.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  nats_flags=(--nats-url "nats://127.0.0.1:$port")
fi

addrs=()
server_pids=()
for i in $(seq "$n"); do
  flags=("${common[@]}")
  if [ "$n" -gt 1 ]; then
    flags+=("${nats_flags[@]}" --instance-name "bench-$i" --ticket-key "$work/ticket.key")
  fi
  : >"$work/out$i"
  "$server" --data-dir "$work/i$i" "${flags[@]}" --listen 127.0.0.1:0 \
    >"$work/out$i" 2>"$work/err$i" &
  pids+=("$!")
  server_pids+=("$!")
  for _ in $(seq 200); do
    addr="$(sed -n 's/^coliseum-server listening on \([^ ]*\).*/\1/p' "$work/out$i" 2>/dev/null || true)"
    [ -n "$addr" ] && break
    sleep 0.05
  done
  [ -n "$addr" ] || { cat "$work/err$i" >&2; echo "instance $i did not start" >&2; exit 2; }
  addrs+=("$addr")
done

IFS=,
COLISEUM_BENCH_ADMIN_USER=benchadmin COLISEUM_BENCH_ADMIN_PASSWORD=bench-admin-password \
  "$bench" "$scenario" --addr "${addrs[*]}" --server-pid "${server_pids[*]}" "$@"
