#!/usr/bin/env bash
# Installs everything pgtide needs to build, test and run its quickstart, from
# Debian 12 packages only. Idempotent: packages already present are skipped and
# apt-get is not even touched when nothing is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libevent-dev libssl-dev libpq-dev libinih-dev libcmocka-dev
  postgresql-15 postgresql-client-15
  openssl procps prometheus valgrind
  python3-asyncpg
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
