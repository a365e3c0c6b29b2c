#!/usr/bin/env bash
# The JSON API benchmark: seeds a fresh database with 100,000 domains and
# 200,000 endpoints (each with a current observation), serves it, and drives
# it with wrk over loopback (64 connections), printing p50/p99 latency and
# requests/s for the domain list (expiring_within_days=30&limit=100), the
# domain detail (random domains) and the summary.
#
# Usage: benches/api.sh            (from the repository root or anywhere)
# Knobs: DOMAINS=100000 ENDPOINTS_PER_DOMAIN=2 CONNECTIONS=64 THREADS=2
#        DURATION=20s WARMUP=3s PORT=18480 KEEP=1 (keep the temp dir)
#        LAPSE_BIN=path (use this binary instead of building one)
#        LAPSE_BENCH_DATABASE=postgres://USER@HOST:PORT/DB (an empty PostgreSQL
#        database instead of a fresh SQLite file)
set -euo pipefail
cd "$(dirname "$0")/.."

DOMAINS=${DOMAINS:-100000}
ENDPOINTS_PER_DOMAIN=${ENDPOINTS_PER_DOMAIN:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
PORT=${PORT:-18480}

# The load tool and an HTTP client must be installed already (Debian: the
# wrk and curl packages): the benchmark itself sends nothing beyond loopback.
for tool in wrk curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "benches/api.sh needs $tool installed (Debian packages: wrk, curl)" >&2
        exit 1
    fi
done

API_TOML="# The benchmark measures the server, not the per-token limit.
rate_limit_per_second = 1000000
rate_limit_burst = 1000000"
# shellcheck source=benches/common.sh
. "$(dirname "$0")/common.sh"

echo "== seeding $DOMAINS domains x $ENDPOINTS_PER_DOMAIN endpoints"
lapse bench seed --domains "$DOMAINS" --endpoints-per-domain "$ENDPOINTS_PER_DOMAIN"
TOKEN=$(lapse tokens create --role viewer --name bench --json | grep -o '"token": *"[^"]*"' | cut -d'"' -f4)

start_server

cat >"$WORK/bench.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
local domains = $DOMAINS
local detail = os.getenv("LAPSE_BENCH_DETAIL") == "1"
request = function()
    if detail then
        return wrk.format("GET", string.format("/api/v1/domains/d%06d-bench.com", math.random(1, domains)))
    end
    return wrk.format("GET", wrk.path)
end
done = function(summary, latency, requests)
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout
    io.write(string.format("RESULT %.2f %.2f %.0f %d %d\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests / (summary.duration / 1e6), summary.requests, errors))
end
LUA

BASE="http://127.0.0.1:$PORT"
run() {
    local name=$1 path=$2 detail=$3
    # Check the route answers 200 before timing it.
    local probe=$path
    [ "$detail" = 1 ] && probe="/api/v1/domains/d000001-bench.com"
    curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE$probe"
    LAPSE_BENCH_DETAIL=$detail wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$WORK/bench.lua" "$BASE$path" >/dev/null
    local line
    line=$(LAPSE_BENCH_DETAIL=$detail wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/bench.lua" "$BASE$path" | grep '^RESULT')
    read -r _ p50 p99 rps total errors <<<"$line"
    printf '%-46s %9s %9s %10s %9s %7s\n' "$name" "$p50" "$p99" "$rps" "$total" "$errors"
}

echo "== wrk: $CONNECTIONS connections, $THREADS threads, $DURATION per route, over loopback"
printf '%-46s %9s %9s %10s %9s %7s\n' "route" "p50 ms" "p99 ms" "req/s" "requests" "errors"
run "GET /api/v1/domains?expiring_within_days=30&limit=100" "/api/v1/domains?expiring_within_days=30&limit=100" 0
run "GET /api/v1/domains/{name} (random)" "/api/v1/domains/d000001-bench.com" 1
run "GET /api/v1/summary" "/api/v1/summary" 0
