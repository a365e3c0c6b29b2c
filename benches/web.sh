#!/usr/bin/env bash
# The staff pages benchmark: seeds a fresh database with the API benchmark's
# fleet (100,000 domains, 200,000 endpoints, each with a current
# observation), serves it, signs a staff account in through the real pages
# (`lapse users add`, the set-password link, the form), then requests the
# domain list and random domain details one after another over loopback and
# prints p50/p99/max of the server time each page reports in its
# `Server-Timing: app;dur=<ms>` header (the time from the request reaching
# the staff routes to the page being rendered), and of the whole request as
# curl saw it.
#
# Usage: benches/web.sh            (from the repository root or anywhere)
# Knobs: DOMAINS=100000 ENDPOINTS_PER_DOMAIN=2 REQUESTS=1000 WARMUP=100
#        PORT=18481 KEEP=1 (keep the temp dir)
#        LAPSE_BIN=path (use this binary instead of building one)
set -euo pipefail
cd "$(dirname "$0")/.."

DOMAINS=${DOMAINS:-100000}
ENDPOINTS_PER_DOMAIN=${ENDPOINTS_PER_DOMAIN:-2}
REQUESTS=${REQUESTS:-1000}
WARMUP=${WARMUP:-100}
PORT=${PORT:-18481}

if ! command -v curl >/dev/null 2>&1; then
    echo "benches/web.sh needs curl installed (Debian package: curl)" >&2
    exit 1
fi

if [ -n "${LAPSE_BIN:-}" ]; then
    BIN=$LAPSE_BIN
else
    echo "== building lapse (release)"
    cargo build --release --locked --quiet
    BIN="${CARGO_TARGET_DIR:-target}/release/lapse"
fi

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

cat >"$WORK/lapse.toml" <<TOML
[database]
path = "$WORK/bench.db"
max_connections = 8

[server]
listen = "127.0.0.1:$PORT"

[log]
level = "warn"

# The scheduler runs beside the server: its lookups go to closed loopback
# ports, so the benchmark never sends a query off this machine.
[rdap]
bootstrap_url = "http://127.0.0.1:9/bootstrap.json"

[whois]
iana_server = "127.0.0.1:9"

[dns]
nameservers = ["127.0.0.1:9"]

[api]
scheduler_heartbeat_max_age_secs = 0
TOML
lapse() { "$BIN" --config "$WORK/lapse.toml" "$@"; }

echo "== seeding $DOMAINS domains x $ENDPOINTS_PER_DOMAIN endpoints"
lapse bench seed --domains "$DOMAINS" --endpoints-per-domain "$ENDPOINTS_PER_DOMAIN"
LINK=$(lapse users add bench@staff.example --role staff 2>/dev/null | grep -o '/set-password/[A-Za-z0-9_-]*' | head -1)
if [ -z "$LINK" ]; then
    echo "lapse users add printed no set-password link" >&2
    exit 1
fi

# The binary itself in the background (not the shell function), so that
# $! is the server and the cleanup stops it.
"$BIN" --config "$WORK/lapse.toml" serve &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "lapse serve exited (is port $PORT taken? set PORT=...)"; exit 1; }
    sleep 0.1
done

# Sign in as a browser does: the set-password form (its token and the
# pre-session cookie), then the post, which answers with the session.
JAR="$WORK/cookies"
TOKEN=$(curl -fsS -c "$JAR" "$BASE$LINK" | grep -o 'name="_csrf" value="[^"]*"' | head -1 | cut -d'"' -f4)
PASSWORD="bench password, long enough $(date +%s)"
STATUS=$(curl -sS -b "$JAR" -c "$JAR" -o /dev/null -w '%{http_code}' \
    --data-urlencode "_csrf=$TOKEN" --data-urlencode "password=$PASSWORD" \
    --data-urlencode "password_again=$PASSWORD" "$BASE$LINK")
if [ "$STATUS" != 303 ] || ! grep -q lapse_session "$JAR"; then
    echo "signing in failed (set-password answered $STATUS)" >&2
    exit 1
fi

# One curl process per route, one connection, requests in sequence: the
# figures are the server's own time per page, without queueing.
measure() {
    local name=$1 count=$2 urls=$3
    local out="$WORK/timings"
    curl -sS -b "$JAR" --config "$urls" \
        -w '%{http_code} %{time_total} %header{server-timing}\n' >"$out"
    local bad
    bad=$(awk '$1 != 200' "$out" | wc -l)
    local server client
    server=$(sed -n 's/.*app;dur=\([0-9.]*\).*/\1/p' "$out" | sort -n)
    client=$(awk '{ print $2 * 1000 }' "$out" | sort -n)
    pct() { awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.1f", v[i] }'; }
    printf '%-40s %7s %8s %8s %8s %10s %6s\n' "$name" "$count" \
        "$(pct 50 <<<"$server")" "$(pct 99 <<<"$server")" "$(pct 100 <<<"$server")" \
        "$(pct 99 <<<"$client")" "$bad"
}

urls_of() {
    local file=$1 count=$2 path=$3
    : >"$file"
    for i in $(seq 1 "$count"); do
        if [ "$path" = detail ]; then
            printf 'url = "%s/domains/d%06d-bench.com"\noutput = "/dev/null"\n' "$BASE" $(( (RANDOM * 32768 + RANDOM) % DOMAINS + 1 )) >>"$file"
        else
            printf 'url = "%s%s"\noutput = "/dev/null"\n' "$BASE" "$path" >>"$file"
        fi
    done
}

run() {
    local name=$1 path=$2
    urls_of "$WORK/warmup" "$WARMUP" "$path"
    curl -sS -b "$JAR" --config "$WORK/warmup" >/dev/null
    urls_of "$WORK/urls" "$REQUESTS" "$path"
    measure "$name" "$REQUESTS" "$WORK/urls"
}

echo "== $REQUESTS requests per page in sequence over loopback (after $WARMUP to warm up)"
printf '%-40s %7s %8s %8s %8s %10s %6s\n' "page" "count" "p50 ms" "p99 ms" "max ms" "curl p99" "not200"
run "GET /domains" "/domains"
run "GET /domains?within=30" "/domains?within=30"
run "GET /domains?sort=name" "/domains?sort=name"
run "GET /domains?status=expiring" "/domains?status=expiring"
run "GET /domains/{name} (random)" detail
echo "(p50/p99/max: Server-Timing app;dur, the server's time per page; curl p99: the whole request)"
