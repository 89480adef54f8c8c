#!/usr/bin/env bash
# The MongoDB-wire test server for Coliseum's MongoDB store tests, for CI
# (.ci/run) and developers alike.
#
#   scripts/mongo-test-server.sh [start]   build (Maven) if needed, start in the
#                                          background, wait until it accepts
#                                          connections, print the URI
#   scripts/mongo-test-server.sh stop      stop the server started by `start`
#   scripts/mongo-test-server.sh status    say whether it runs
#
# The server is mongo-java-server (de.bwaldvogel:mongo-java-server, in-memory
# backend, pinned in scripts/mongo-test-server/pom.xml) behind a small launcher
# that reports wire version 9, the oldest the Rust driver 3.x accepts. It is a
# real server process speaking the MongoDB wire protocol on 127.0.0.1; it has
# no replica set and no transactions, so the store's non-transactional booking
# path is what runs against it (see docs/storage.md). Data lives in memory and
# is gone when it stops.
#
# Needs: java (17+) and mvn; artifacts come from Maven Central.
# Environment:
#   COLISEUM_MONGO_TEST_PORT   port on 127.0.0.1 (default 27017)
#   COLISEUM_MONGO_TEST_STATE  directory for the pid file and the log
#                              (default scripts/mongo-test-server/target/run)
# Then run the tests with:
#   COLISEUM_TEST_MONGODB_URI=mongodb://127.0.0.1:27017 cargo test -p coliseum-store-mongo
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="$here/mongo-test-server"
jar="$project/target/mongo-test-server.jar"
host=127.0.0.1
port="${COLISEUM_MONGO_TEST_PORT:-27017}"
state="${COLISEUM_MONGO_TEST_STATE:-$project/target/run}"
pidfile="$state/mongo-test-server.pid"
logfile="$state/mongo-test-server.log"
# How long `start` waits for the port (the JVM starts in 1-3 s).
start_timeout_s=60

say() { printf 'mongo-test-server: %s\n' "$*"; }
die() { printf 'mongo-test-server: error: %s\n' "$*" >&2; exit 1; }

# True when the pid file names a live process.
running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# True when something accepts TCP connections on host:port.
accepting() {
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

build() {
  command -v java >/dev/null 2>&1 || die "java not found (install a JDK 17+, e.g. apt-get install default-jdk-headless)"
  command -v mvn >/dev/null 2>&1 || die "mvn not found (install Maven, e.g. apt-get install maven)"
  # Rebuild when the jar is missing or older than the pom or the launcher.
  if [ -f "$jar" ] && [ -z "$(find "$project/pom.xml" "$project/src" -newer "$jar" -type f | head -n 1)" ]; then
    return
  fi
  say "building the launcher with Maven (first run downloads from Maven Central)"
  mvn -q -B -Dstyle.color=never -f "$project/pom.xml" package -DskipTests || die "Maven build failed"
  [ -f "$jar" ] || die "Maven did not produce $jar"
}

start() {
  if running; then
    say "already running (pid $(cat "$pidfile")) on $host:$port"
    return
  fi
  if accepting; then
    die "$host:$port is already taken by another process (set COLISEUM_MONGO_TEST_PORT to use another port)"
  fi
  build
  mkdir -p "$state"
  : >"$logfile"
  nohup java -Xmx512m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -jar "$jar" "$host" "$port" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local waited=0
  until accepting; do
    if ! running; then
      cat "$logfile" >&2 || true
      rm -f "$pidfile"
      die "the server exited during start-up (log above)"
    fi
    if [ "$waited" -ge $((start_timeout_s * 10)) ]; then
      cat "$logfile" >&2 || true
      stop
      die "the server did not accept connections on $host:$port within ${start_timeout_s}s"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  say "running (pid $(cat "$pidfile")), log $logfile"
  say "COLISEUM_TEST_MONGODB_URI=mongodb://$host:$port"
}

stop() {
  if ! running; then
    rm -f "$pidfile"
    say "not running"
    return
  fi
  local pid
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge 100 ]; then
      say "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$pidfile"
  say "stopped (pid $pid)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then say "running (pid $(cat "$pidfile")) on $host:$port"; else say "not running"; exit 1; fi
    ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac
