"""Step-by-step checks shared by the interop scripts: how many checks passed, the step under
way, and the last stanzas slixmpp sent and received, printed with the step when a check
fails. `run` sets up the stanza log and reports a failure with exit status 1."""
import asyncio
import collections
import logging
import os
import sys


class Progress:
    passed = 0
    step = "start"
    # Each passed check printed as it happens (the federation check does).
    verbose = False


progress = Progress()
transcript = collections.deque(maxlen=400)


class TranscriptHandler(logging.Handler):
    def emit(self, record):
        line = record.getMessage()
        if line.startswith(("SEND:", "RECV:")):
            transcript.append(line)


def check(condition, description):
    if not condition:
        raise AssertionError(description)
    progress.passed += 1
    if progress.verbose:
        print(f"  ok: {description}")


def begin(name):
    progress.step = name


def run(main, title):
    """Runs `main()`; on any failure prints the last stanzas and the step, and exits 1.
    INTEROP_DEBUG=1 logs every stanza as it goes."""
    debug = os.environ.get("INTEROP_DEBUG") == "1"
    logging.basicConfig(level=logging.DEBUG if debug else logging.ERROR)
    stanza_log = logging.getLogger("slixmpp.xmlstream.xmlstream")
    stanza_log.setLevel(logging.DEBUG)
    stanza_log.addHandler(TranscriptHandler())
    stanza_log.propagate = debug
    try:
        asyncio.run(main())
    except Exception as error:  # noqa: BLE001 - every failure is reported with its step
        print(f"--- last stanzas ({len(transcript)}) ---")
        for line in transcript:
            print(line)
        print(f"{title} FAILED in step '{progress.step}' after {progress.passed} checks: {type(error).__name__}: {error}")
        sys.exit(1)
