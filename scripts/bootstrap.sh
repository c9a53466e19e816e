#!/usr/bin/env bash
# Installs everything the project needs on a Debian 12 machine, idempotently:
# Debian packages (auditd userspace, QEMU, debootstrap) without starting any
# service, a project-local venv with the pinned controller tools, and a link
# that makes this checkout the collection immutable.audit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need_pkgs=()
for p in auditd qemu-system-x86 qemu-utils debootstrap zstd e2fsprogs openssh-client python3-venv chromium; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing Debian packages ${need_pkgs[*]} and not root; install them first" >&2
    exit 1
  fi
  # Installing auditd must never start it on this machine (the kernel audit
  # state is global and not ours to change): forbid service starts for the
  # duration of the install unless a policy is already in place.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ ! -x .venv/bin/ansible ] || ! cmp -s requirements-dev.txt .venv/.requirements-dev.txt; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt .venv/.requirements-dev.txt
fi

mkdir -p .cache/collections/ansible_collections/immutable
ln -sfn "$root" .cache/collections/ansible_collections/immutable/audit
