#!/usr/bin/env sh
# Make sure the browser that the web-UI tests drive (Debian's Chromium) is installed.
# Quiet and quick when it is there; installs it with apt-get when it can (root, apt-get
# present); otherwise stops with one paragraph saying what is missing and how to install it.
# `make test` runs this, so a fresh machine needs nothing but Python. Never a silent skip:
# a browser that cannot be installed fails the run here, before the suite starts.
set -u
CHROMIUM="${POCKETGPT_CHROMIUM:-/usr/bin/chromium}"
LOG="${TMPDIR:-/tmp}/pocketgpt-apt-chromium.log"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

missing() {
    echo "make: the browser tests (tests/serve/test_ui.py) drive Debian's Chromium at $CHROMIUM," \
         "which is missing, and $1. Install it with 'sudo apt-get install -y chromium'" \
         "(on Debian or Ubuntu), or point POCKETGPT_CHROMIUM at a Chromium binary, then run the" \
         "command again. Playwright's own browser download is not used: it needs the network at test time." >&2
    exit 1
}

if [ "$(id -u)" != "0" ]; then
    missing "this make is not running as root, so it cannot install it"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    missing "this machine has no apt-get to install it with"
fi
echo "make: installing Debian's chromium for the browser tests (apt-get; log in $LOG)"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$LOG" 2>&1; then
    tail -n 5 "$LOG" >&2
    missing "'apt-get install chromium' failed (the last lines of $LOG are above)"
fi
if [ ! -x "$CHROMIUM" ]; then
    missing "apt-get finished but did not put it there"
fi
