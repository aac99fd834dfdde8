#!/usr/bin/env bash
# Runs the XML stream parser fuzzer for a bounded time (seconds, default 60) over the
# committed seed corpus. Findings (crash-*, timeout-*, oom-*) land in Fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-60}"
swift build --product XMPPParserFuzzer --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address
mkdir -p .build-fuzz/corpus/parser Fuzz/findings
.build-fuzz/debug/XMPPParserFuzzer -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=10 \
    -artifact_prefix=Fuzz/findings/ .build-fuzz/corpus/parser Fuzz/corpus/parser
