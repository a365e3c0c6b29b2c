#!/usr/bin/env bash
# The JSON API benchmark: seeds a fresh database with 100,000 domains and
# 200,000 endpoints (each with a current observation), serves it, and drives
# it with wrk over loopback (64 connections), printing p50/p99 latency and
# requests/s for the domain list (100 items a page, filters and pages picked
# at random per request from cursor walks collected before the run), the
# domain detail (random domains), a name search (`q`, random) and the
# summary.
#
# Usage: benches/api.sh            (from the repository root or anywhere)
# Knobs: DOMAINS=100000 ENDPOINTS_PER_DOMAIN=2 CONNECTIONS=64 THREADS=2
#        DURATION=20s WARMUP=3s PORT=18480 KEEP=1 (keep the temp dir)
#        WALKS=250 (random list filters walked) SEED=19 (their choice)
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

BASE="http://127.0.0.1:$PORT"
CLIENTS=1000
STATUSES=(ok expiring expired failing not_found needs_date unknown)
WITHIN=(0 7 14 30 60 90 180 365 3650)

# One random list filter (the seed's 1,000 clients, by id or name; every
# status; expiry windows; both sorts), 100 items a page.
random_filter() {
    local p="limit=100"
    ((RANDOM % 2 == 0)) && p+="&expiring_within_days=${WITHIN[RANDOM % ${#WITHIN[@]}]}"
    ((RANDOM % 3 == 0)) && p+="&status=${STATUSES[RANDOM % ${#STATUSES[@]}]}"
    if ((RANDOM % 10 < 3)); then
        local c=$((RANDOM % CLIENTS + 1))
        if ((RANDOM % 2 == 0)); then p+="&client=$c"; else p+="&client=Bench%20client%20$(printf %05d "$c")"; fi
    fi
    ((RANDOM % 5 < 2)) && p+="&sort=name"
    printf '%s' "$p"
}

# The list requests: $WALKS random filters, each walked through its pages
# with the cursors the API returns (1 to 6 pages deep, fewer when the
# filter has fewer), one path a line. wrk picks among them at random.
RANDOM=${SEED:-19}
WALKS=${WALKS:-250}
echo "== collecting list pages ($WALKS random filters, cursor walks)"
: >"$WORK/pages.txt"
for _ in $(seq 1 "$WALKS"); do
    filter=$(random_filter)
    path="/api/v1/domains?$filter"
    for _ in $(seq 1 $((RANDOM % 6 + 1))); do
        echo "$path" >>"$WORK/pages.txt"
        cursor=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE$path" | grep -o '"next_cursor":"[^"]*"' | cut -d'"' -f4 || true)
        [ -n "$cursor" ] || break
        path="/api/v1/domains?$filter&cursor=$cursor"
    done
done
echo "   $(wc -l <"$WORK/pages.txt") list paths ($(grep -c cursor= "$WORK/pages.txt" || true) past the first page)"

cat >"$WORK/bench.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
local domains = $DOMAINS
local mode = os.getenv("LAPSE_BENCH_MODE") or "fixed"
local pages = {}
for line in io.lines("$WORK/pages.txt") do pages[#pages + 1] = line end
local sorts = {"expiry", "name"}
request = function()
    if mode == "detail" then
        return wrk.format("GET", string.format("/api/v1/domains/d%06d-bench.com", math.random(1, domains)))
    elseif mode == "list" then
        return wrk.format("GET", pages[math.random(1, #pages)])
    elseif mode == "search" then
        -- Part of a name: three random digits (about 400 matches each).
        return wrk.format("GET", string.format("/api/v1/domains?limit=100&q=%03d&sort=%s",
            math.random(0, 999), sorts[math.random(1, 2)]))
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

run() {
    local name=$1 path=$2 mode=$3
    # Check the route answers 200 before timing it.
    local probe=$path
    [ "$mode" = detail ] && probe="/api/v1/domains/d000001-bench.com"
    [ "$mode" = list ] && probe=$(head -n 1 "$WORK/pages.txt")
    curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE$probe"
    LAPSE_BENCH_MODE=$mode wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$WORK/bench.lua" "$BASE$path" >/dev/null
    local line
    line=$(LAPSE_BENCH_MODE=$mode wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/bench.lua" "$BASE$path" | grep '^RESULT')
    read -r _ p50 p99 rps total errors <<<"$line"
    printf '%-46s %9s %9s %10s %9s %7s\n' "$name" "$p50" "$p99" "$rps" "$total" "$errors"
}

echo "== wrk: $CONNECTIONS connections, $THREADS threads, $DURATION per route, over loopback"
printf '%-46s %9s %9s %10s %9s %7s\n' "route" "p50 ms" "p99 ms" "req/s" "requests" "errors"
run "GET /api/v1/domains (random filters, pages)" "/api/v1/domains" list
run "GET /api/v1/domains/{name} (random)" "/api/v1/domains/d000001-bench.com" detail
run "GET /api/v1/domains?q=NNN (random search)" "/api/v1/domains" search
run "GET /api/v1/summary" "/api/v1/summary" fixed
