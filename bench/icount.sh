#!/bin/sh
# icount.sh BINARY BENCH [N]: instructions per decision of one benchmark,
# counted by callgrind (independent of the machine's load): the own
# costs of the limiter's functions, the key's hash and the benchmark's
# closure, summed and divided by N (default 200000) decisions.
#
#   cd bench && go test -c -o /tmp/bench.test . &&
#   ./icount.sh /tmp/bench.test 'BenchmarkIssue21Parallel/^hot-key$/planguard-common'
set -eu
bin=$1 bench=$2 n=${3:-200000}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
GODEBUG=asyncpreemptoff=1 GOGC=off valgrind --tool=callgrind --callgrind-out-file="$out" \
	"$bin" -test.run '^$' -test.bench "$bench" -test.benchtime "${n}x" -test.cpu 1 >/dev/null 2>&1
callgrind_annotate --threshold=100 "$out" 2>/dev/null |
	grep -E 'limiter\.|maphash|aeshash|memequal|memhash|peersWith|sethvargo|mapaccess|time\.now|vdso|RWMutex|sync\.\(\*Mutex' |
	grep -v '=>' |
	awk -v n="$n" '{ gsub(",", "", $1); s += $1 } END { printf "%.0f instructions per decision\n", s / n }'
