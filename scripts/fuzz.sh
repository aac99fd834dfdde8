#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time each (seconds, default 60):
#   scripts/fuzz.sh 60                 all five targets, one after another
#   scripts/fuzz.sh 600 jid sasl       only these
# Targets: parser (XML stream parser), jid (addresses and username rules), sasl (SCRAM and
# PLAIN messages), sasl2 (XEP-0388 <authenticate/> and what follows it through the c2s machine:
# Bind 2, inline resumption, FAST tokens, upgrade tasks), dispatcher (stanzas through the c2s
# and s2s stream machines). Each starts
# from its committed seed corpus in Fuzz/corpus/<target>; findings land in Fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-60}"
shift || true
TARGETS=("${@:-parser jid sasl sasl2 dispatcher}")
read -r -a TARGETS <<< "${TARGETS[*]}"
swift build --product XMPPFuzzer --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address 2>&1 | grep -v "ld.gold: warning" | tail -2
mkdir -p Fuzz/findings
for target in "${TARGETS[@]}"; do
    mkdir -p ".build-fuzz/corpus/$target"
    echo "=== $target: $SECONDS_TO_RUN s ==="
    STARLING_FUZZ_TARGET="$target" .build-fuzz/debug/XMPPFuzzer -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=10 \
        -artifact_prefix="Fuzz/findings/$target-" ".build-fuzz/corpus/$target" "Fuzz/corpus/$target" 2>&1 | grep -E "^#[0-9]+ *(DONE|pulse)|ERROR|SUMMARY|Done" | tail -3
done
