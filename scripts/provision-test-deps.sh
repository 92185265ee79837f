#!/usr/bin/env bash
# Installs the system packages the test suite needs when they are missing:
# Debian's PostgreSQL 15 server binaries (initdb, pg_ctl, pg_recvlogical, pgbench).
# Run as root (CI and the development machines are); otherwise says what to install.
set -euo pipefail
need=()
if ! command -v pg_config >/dev/null || [ ! -x "$(pg_config --bindir 2>/dev/null)/initdb" ]; then
  need+=(postgresql-15 postgresql-contrib)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "tests need these Debian packages: ${need[*]} — install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} for the tests" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
