#!/bin/sh
# Runs every benchmark and writes docs/BENCHMARKS.md. Every section (and every run of the ceiling)
# waits until the machine is quiet (1-minute load below 1.5), because other people's tests distort
# every number taken beside them. Extra arguments go to the harness: -quick, -only SECTIONS, -runs N, -out FILE, -profile DIR.
# PostgreSQL is measured too when ORDERIMPORT_TEST_POSTGRES holds a server URL.
set -e
cd "$(dirname "$0")/.."
exec go run ./bench -max-load 1.5 "$@"
