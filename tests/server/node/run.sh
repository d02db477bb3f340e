#!/usr/bin/env bash
# Runs one Node client against a fresh `strata serve`:
#   run.sh install WORK_DIR        installs the clients' npm packages (package-lock.json)
#   run.sh STRATA_BINARY WORK_DIR SCRIPT.mjs [serve options...]
# starts the server on a free port, runs the script with STRATA_URL and STRATA_BINARY set,
# and stops the server. The script's exit status is the test's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $1 == install ]]; then
  work=$2
  mkdir -p "$work"
  if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [[ ! -d $work/node_modules ]]; then
    cp "$here/package.json" "$here/package-lock.json" "$work/"
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  exit 0
fi
strata=$1 work=$2 script=$3
shift 3
[[ -d $work/node_modules ]] || { echo "run.sh install $work first" >&2; exit 1; }
cp "$here/$script" "$work/"
log=$(mktemp)
"$strata" serve --port 0 "$@" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
url=""
for _ in $(seq 1 200); do
  url=$(grep -o 'http://[0-9.]*:[0-9]*' "$log" || true)
  [[ -n $url ]] && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; echo "strata serve exited" >&2; exit 1; }
  sleep 0.05
done
[[ -n $url ]] || { cat "$log" >&2; echo "strata serve did not start" >&2; exit 1; }
STRATA_URL=$url STRATA_BINARY=$strata node "$work/$script"
