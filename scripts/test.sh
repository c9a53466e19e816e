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

# The molecule scenarios run in two lanes at once: TCG guests are CPU-bound and
# two give about 1.3 times the throughput of one (docs/vm.md), and the host
# checks (pytest, sanity, lint) need no guest. Lane B takes the long
# scenarios; lane A the host checks, then the short ones. Each scenario logs
# to tests/output/molecule-<name>.log, printed whole after both lanes end.
# The image build and the snapshot template are locked (scripts/vm), and
# guests are named per scenario, so scenarios never collide.
lane_b=(seal drift baseline default)
lane_a=(faults roles smoke chattr control)

molecule_lane() {
  local rc=0 s start
  for s in "$@"; do
    [ -e "molecule/$s/molecule.yml" ] || { echo "=== molecule $s: missing"; rc=1; continue; }
    start=$SECONDS
    if molecule test -s "$s" > "tests/output/molecule-$s.log" 2>&1; then
      echo "=== molecule $s: ok ($((SECONDS - start)) s)"
    else
      echo "=== molecule $s: FAILED ($((SECONDS - start)) s)"; rc=1
    fi
  done
  return $rc
}

every_scenario_in_a_lane() {
  local s name
  for s in molecule/*/molecule.yml; do
    name=$(basename "$(dirname "$s")")
    case " ${lane_a[*]} ${lane_b[*]} " in
      *" $name "*) ;;
      *) echo "scenario $name is in no lane of scripts/test.sh"; return 1 ;;
    esac
  done
}

show_molecule_logs() {
  local s
  for s in "${lane_b[@]}" "${lane_a[@]}"; do
    [ -e "tests/output/molecule-$s.log" ] || continue
    echo "=== molecule $s: log"
    cat "tests/output/molecule-$s.log"
  done
}

mkdir -p tests/output/junit
if [ $quick = 0 ]; then
  step molecule-lanes every_scenario_in_a_lane
  molecule_lane "${lane_b[@]}" > tests/output/lane-b.log 2>&1 &
  lane_b_pid=$!
fi
step pytest pytest_all
step sanity sanity
step ansible-lint lint
if [ $quick = 0 ]; then
  step molecule-a molecule_lane "${lane_a[@]}"
  echo "=== molecule-b (waiting for the lane started first)"
  if wait "$lane_b_pid"; then echo "=== molecule-b: ok"; else echo "=== molecule-b: FAILED"; failed+=("molecule-b"); fi
  cat tests/output/lane-b.log
  show_molecule_logs
  # Molecule destroys after a failure too; this catches anything it missed.
  python3 scripts/vm/vm.py stop-all || failed+=("vm-stop-all")
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
