# Sourced by the scripts that drive Chromium: installs Debian's `chromium` when it is missing
# and this runs as root, and exits 77 (skipped by scripts/test.sh, with this reason) when it
# cannot be installed.
if ! command -v chromium > /dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        (apt-get install -y -q chromium > /dev/null 2>&1 || { apt-get update -q > /dev/null 2>&1 && apt-get install -y -q chromium > /dev/null 2>&1; }) || true
    fi
    command -v chromium > /dev/null || { echo "chromium is not installed and could not be"; exit 77; }
fi
