#!/usr/bin/env bash
# Golden output (not part of `.ci/run`): the same CLI commands and API
# requests against a fresh database, outputs normalised (times, secrets,
# temp paths) into OUT, one file per command. A refactor that must leave
# behaviour unchanged compares two builds:
#   .ci/golden-output.sh OLD/lapse /tmp/old && .ci/golden-output.sh NEW/lapse /tmp/new
#   diff -r /tmp/old /tmp/new
# Loopback only: registries on closed ports, HTTP on 127.0.0.1:$PORT.
set -uo pipefail
BIN=$1; OUT=$2; PORT=${PORT:-18611}
rm -rf "$OUT"; mkdir -p "$OUT"
W=$(mktemp -d)
cat > "$W/lapse.toml" <<TOML
[database]
path = "$W/lapse.db"
[names]
private_tlds = ["test"]
[rdap]
bootstrap_url = "http://127.0.0.1:9/bootstrap.json"
[whois]
iana_server = "127.0.0.1:9"
timeout_ms = 500
[dns]
nameservers = ["127.0.0.1:9"]
[server]
listen = "127.0.0.1:$PORT"
[schedule]
scan = "0 0 3 1 1 *"
[log]
level = "warn"
TOML
export LAPSE_CONFIG="$W/lapse.toml"
norm() {
  sed -E -e "s#$W#TMP#g" \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z/TIME/g' \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2})?( UTC)?/TIME/g' \
    -e 's/^lapse_[A-Za-z0-9_-]{40,}$/SECRET/' -e 's/DTSTAMP:[0-9TZ]+/DTSTAMP:X/' -e 's/(_age_seconds(\{[^}]*\})?) [0-9.e+-]+$/\1 N/' \
    -e 's/"duration_ms":[0-9]+/"duration_ms":N/g' -e 's/in [0-9.]+ ?m?s/in N/g'
}
n=0
run() { n=$((n+1)); local f; f=$(printf "%s/%03d" "$OUT" $n); echo "$ lapse $*" | norm > "$f"; "$BIN" "$@" > "$f.out" 2> "$f.err"; echo "exit $?" >> "$f"; norm < "$f.out" >> "$f"; norm < "$f.err" | grep -v '^\s*$' >> "$f"; rm -f "$f.out" "$f.err"; }
for c in "" serve check migrate config scan whois clients domains alerts outbox email thresholds tokens bench; do run $c --help; done
for c in "clients add" "clients list" "domains add" "domains list" "domains remove" "domains import" "domains set-expiry" "alerts list" "alerts evaluate" "outbox list" "thresholds set" "tokens create" "whois parse" "config check"; do run $c --help; done
run config check
run migrate
run clients add "Acme Ltd" --contact ops@acme.example --contact cto@acme.example
run clients add "Acme Ltd" --contact ops@acme.example
run clients add "Bad" --contact not-an-email
run clients add "Globex" --contact it@globex.example
run domains add https://Shop.Acme.test:8443/x www.acme.test mail.acme.test:587 --client "Acme Ltd"
run domains add www.globex.test --client Globex
run domains add www.globex.test --client "Acme Ltd"
run domains add bücher.test orphan.test
run domains add "bad..name" 
run domains add www.acme.test --client Nobody
printf 'host,client,contacts\nimp1.import.test,Initech,a@initech.example\nimp2.import.test,Initech,\n"bad host",Initech,\nimp3.import.test,Initech,nope\n' > "$W/in.csv"
run domains import "$W/in.csv"
run domains import "$W/in.csv" --json
run domains import "$W/missing.csv"
run domains set-expiry acme.test 2027-03-31 --note "invoice 4711"
run domains set-expiry nothere.test 2027-03-31
run domains list
run domains list --json
run domains list --client "Acme Ltd"
run domains list --client Nobody
run clients list
run clients list --json
run thresholds set --client "Acme Ltd" --certificate 21,7,2,0
run thresholds set --domain acme.test --registration 60,30,7
run thresholds set --client "Acme Ltd" --certificate 7,x
run thresholds list
run thresholds list --json
run alerts list
run alerts list --all --json
run alerts evaluate
run outbox list
run outbox list --json
run tokens create --name admin1 --role admin
run tokens create --name acme1 --role client --client "Acme Ltd"
run tokens create --name bad --role client
run tokens list
run tokens list --json
printf 'Domain Name: example.de\nRegistry Expiry Date: 2027-01-02T00:00:00Z\nRegistrar: Foo\n' > "$W/r.txt"
run whois parse --domain example.de "$W/r.txt"
run whois parse --domain example.de "$W/nope.txt"
run domains remove shop.acme.test:8443
run domains remove orphan.test
run domains remove nothere.test
run clients remove Globex
run clients list
run domains list
# API
ADMIN=$("$BIN" tokens create --name api-admin --role admin 2>/dev/null | grep -oE 'lapse_[A-Za-z0-9_-]{20,}' | head -1)
ACME=$("$BIN" tokens create --name api-acme --role client --client "Acme Ltd" 2>/dev/null | grep -oE 'lapse_[A-Za-z0-9_-]{20,}' | head -1)
"$BIN" serve > "$W/serve.log" 2>&1 &
SP=$!
for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
api() { n=$((n+1)); local f; f=$(printf "%s/%03d" "$OUT" $n); echo "API $*" | sed "s#$B##; s#Bearer [^ ]*#Bearer T#" > "$f"; curl -s -i "$@" | tr -d '\r' | grep -vi '^date:' | norm >> "$f"; }
B="http://127.0.0.1:$PORT"
api "$B/healthz"
api "$B/api/v1/domains"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/domains"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/domains?limit=2"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/domains?bogus=1"
api -H "Authorization: Bearer $ACME" "$B/api/v1/domains"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/domains/1"
api -H "Authorization: Bearer $ACME" "$B/api/v1/domains/1"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/clients"
api -H "Authorization: Bearer $ACME" "$B/api/v1/clients"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/summary"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/alerts"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/tokens"
api -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d '{"host":"new.acme.test","client":"Acme Ltd"}' "$B/api/v1/domains"
api -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d '{"host":"bad..x"}' "$B/api/v1/domains"
api -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d '{"scope":"client","client":"Acme Ltd"}' "$B/api/v1/scans"
api -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d '{"scope":"client","client":"Nobody"}' "$B/api/v1/scans"
api -H "Authorization: Bearer $ADMIN" "$B/api/v1/scans/1"
api -H "Authorization: Bearer $ACME" "$B/api/v1/calendar.ics"
api -H "Authorization: Bearer $ADMIN" "$B/metrics"
api "$B/api/v1/openapi.json"
kill -TERM $SP; wait $SP; echo "serve exit $?" > "$OUT/zz-serve"; norm < "$W/serve.log" | grep -v 'DEBUG\|INFO' >> "$OUT/zz-serve"
rm -rf "$W"
