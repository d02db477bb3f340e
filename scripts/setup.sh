#!/usr/bin/env bash
# Installs the Debian packages strata needs to build and test. Idempotent: does nothing
# (and needs no network) when every package is already there.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config git tmux
  nlohmann-json3-dev libcli11-dev libfmt-dev liburing-dev libzstd-dev libxxhash-dev
  libpcre2-dev libcpp-httplib-dev libgtest-dev libgmock-dev libbenchmark-dev
  chromium)  # the server tests drive the chat page in headless Chromium
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The server tests' clients run on Node.js (npm packages from tests/server/node/package-lock.json);
# any node >= 18 will do, Debian's or another distribution's already on the PATH.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
