#!/usr/bin/env bash
# The main job on a built-in default: boots a local fleet of two throwaway
# QEMU guests, hardens them with the collection (rules on disk and in the
# kernel, then the lock), reboots them, runs the check-mode drift audit,
# prints where the results are, and stops the guests again.
#   scripts/demo.sh           the fleet demo (about 3 minutes on 2 cores)
#   scripts/demo.sh --local   a check-mode drift audit of this machine only;
#                             changes nothing here
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
export ANSIBLE_CONFIG="$root/ansible.cfg"
export PATH="$root/.venv/bin:$PATH"

if [ "${1:-}" = "--local" ]; then
  ansible-playbook -i localhost, -c local -e ansible_python_interpreter=/usr/bin/python3 \
    playbooks/demo_drift.yml --check --diff
  echo "Results: $root/output/drift-localhost.json"
  exit 0
fi

out="$root/output/demo"
rm -rf "$out"
mkdir -p "$out"
names=(demo-web demo-db)
vm() { python3 scripts/vm/vm.py "$@"; }
cleanup() { vm stop "${names[@]}" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== Building (or reusing) the guest image"
image=$(bash scripts/vm/build-image.sh | tail -n 1)
echo "== Booting ${names[*]}"
for name in "${names[@]}"; do
  vm start "$name" --image "$image" --replace --json > "$out/$name.json"
done
vm wait "${names[@]}"

python3 - "$out" "${names[@]}" <<'PY'
import json, sys
out, names = sys.argv[1], sys.argv[2:]
with open(out + "/inventory.ini", "w") as inv:
    inv.write("[fleet]\n")
    for name in names:
        c = json.load(open("%s/%s.json" % (out, name)))
        inv.write("%s ansible_host=%s ansible_port=%s ansible_user=%s ansible_ssh_private_key_file=%s "
                  "ansible_python_interpreter=/usr/bin/python3\n"
                  % (name, c["address"], c["port"], c["user"], c["identity_file"]))
PY

echo "== Hardening, locking and rebooting the fleet"
ansible-playbook -i "$out/inventory.ini" playbooks/demo_fleet.yml
echo "== Drift audit (check mode, changes nothing)"
ansible-playbook -i "$out/inventory.ini" playbooks/demo_drift.yml --check -e demo_report_dir="$out"

echo
echo "Results:"
for name in "${names[@]}"; do
  echo "  $out/drift-$name.json"
done
