#!/usr/bin/env bash
# Where a phase's CPU goes, by kind of work, from a `perf record` file the
# scan benchmark wrote (`cargo bench --bench scan -- ... --perf DIR`).
#
# Usage: benches/perf_breakdown.sh DIR/scan.data [CPU_MS_PER_CHECK [THREAD]]
# With CPU_MS_PER_CHECK (the benchmark's "CPU s per 1,000 checks" for that
# phase), each share is also printed as milliseconds per check. THREAD keeps
# one thread name's samples (tokio-rt-worker, sqlx-sqlite-wor), still as
# shares of the whole phase.
set -euo pipefail
data=$1
per_check=${2:-}
comm=()
[ -n "${3:-}" ] && comm=(--comm "$3")
perf report -i "$data" "${comm[@]}" --no-children --sort dso,symbol --stdio 2>/dev/null |
    awk -v per_check="$per_check" '
    /^#/ || NF < 3 { next }
    {
        pct = $1; sub(/%/, "", pct)
        dso = $2; kind = $3
        sym = ""; for (i = 4; i <= NF; i++) sym = sym " " $i
        if (kind == "[k]") cat = "kernel (syscalls, scheduling, network stack, page copies)"
        else if (sym ~ /ring_core|nistz256|fiat_|x25519|fe_|fe4_|ge_|sha256|sha512|aes|gcm|chacha|poly1305|p256|bn_|LIMBS|limbs|GFp|ecdsa|CRYPTO|ring::/) cat = "cryptography (ring)"
        else if (sym ~ /sqlite3|pcache1|btree|Btree|vdbe|Vdbe|pager|Pager|json[A-Z]|walIndex|wal[A-Z]|balance_|unixRead|unixWrite|sqlx_sqlite|sqlx_core|sqlx::/) cat = "database (SQLite / sqlx)"
        else if (sym ~ /malloc|free|_int_|mi_|unlink_chunk|realloc|memmove|memcpy|memset|alloc::|__rust_alloc|__rust_dealloc|drop_in_place/) cat = "allocation, copying, drops"
        else if (sym ~ /rustls|tokio_rustls|webpki/) cat = "rustls / webpki protocol"
        else if (sym ~ /x509|der_parser|asn1|nom::/) cat = "x509 parsing"
        else if (sym ~ /hickory/) cat = "DNS (hickory)"
        else if (sym ~ /tokio|futures|flume|mio|parking_lot|pthread|__lll|futex|sched_yield|clock_gettime/) cat = "runtime, channels, locks, timers"
        else if (sym ~ /serde|json/) cat = "JSON"
        else if (sym ~ /lapse::/) cat = "lapse code"
        else cat = "other"
        share[cat] += pct
        total += pct
    }
    END {
        for (c in share) {
            if (per_check != "") printf "%6.1f%%  %6.3f ms  %s\n", share[c], share[c] / 100 * per_check, c
            else printf "%6.1f%%  %s\n", share[c], c
        }
    }' | sort -rn
