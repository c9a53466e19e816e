#!/usr/bin/env bash
# Runs every test of the collection: unit, kernel agreement and integration
# tests (pytest, as root on this machine: ordinary rules only, each deleted
# again), ansible-test sanity, ansible-lint, and the molecule scenarios in
# throwaway QEMU guests. Checks that this machine's kernel audit state is the
# same afterwards. Usage: scripts/test.sh [--quick]  (--quick: no QEMU guests)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$root/ansible.cfg"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

audit_state() { { auditctl -s | grep -v -E '^(backlog|lost|backlog_wait_time_actual) '; auditctl -l; } 2>&1; }
before=$(audit_state)
failed=()
step() {
  local name=$1; shift
  echo "=== $name"
  local start=$SECONDS
  if "$@"; then echo "=== $name: ok ($((SECONDS - start)) s)"; else echo "=== $name: FAILED ($((SECONDS - start)) s)"; failed+=("$name"); fi
}

pytest_all() {
  # Exit 5 (nothing collected) is a failure here, as it is for CI.
  python -m pytest -p no:cacheprovider tests/unit tests/kernel tests/integration tests/vm \
    --junitxml=tests/output/junit/pytest.xml
}

sanity() { bash scripts/sanity.sh; }

lint() { ansible-lint --offline; }

molecule_all() {
  local rc=0 s start
  for s in molecule/*/molecule.yml; do
    [ -e "$s" ] || continue
    s=$(basename "$(dirname "$s")")
    start=$SECONDS
    molecule test -s "$s" || rc=1
    echo "=== molecule $s: $((SECONDS - start)) s"
  done
  # Molecule destroys after a failure too; this catches anything it missed.
  python3 scripts/vm/vm.py stop-all || rc=1
  return $rc
}

mkdir -p tests/output/junit
step pytest pytest_all
step sanity sanity
step ansible-lint lint
if [ $quick = 0 ]; then
  step molecule molecule_all
  step fleet-demo bash scripts/demo.sh
fi

after=$(audit_state)
if [ "$before" != "$after" ]; then
  echo "!! this machine's kernel audit state changed during the tests:"
  diff <(echo "$before") <(echo "$after") || true
  failed+=("host-audit-state")
fi
# Only guests of this checkout count (other checkouts may run their own).
pgrep -af "qemu-system.*$root/.cache/vm" && { echo "!! QEMU guests left running"; failed+=("qemu-leftovers"); }
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test steps passed"
