# Shared by benches/api.sh and benches/web.sh (sourced, not run): the binary,
# a temporary installation whose lookups go to closed loopback ports, and
# `lapse serve` started on $PORT and waited for. The caller sets PORT and,
# for extra `[api]` lines, API_TOML.

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

# LAPSE_BENCH_DATABASE=postgres://... runs against that (empty) PostgreSQL
# database instead of a fresh SQLite file.
if [ -n "${LAPSE_BENCH_DATABASE:-}" ]; then
    DATABASE_LINE="url = \"$LAPSE_BENCH_DATABASE\""
else
    DATABASE_LINE="path = \"$WORK/bench.db\""
fi
cat >"$WORK/lapse.toml" <<TOML
[database]
$DATABASE_LINE
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
${API_TOML:-}
TOML
lapse() { "$BIN" --config "$WORK/lapse.toml" "$@"; }

# The binary itself in the background (not the shell function), so that
# $! is the server and the cleanup stops it.
start_server() {
    "$BIN" --config "$WORK/lapse.toml" serve &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "lapse serve exited (is port $PORT taken? set PORT=...)"; exit 1; }
        sleep 0.1
    done
}
