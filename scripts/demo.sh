#!/usr/bin/env bash
# The main job on a built-in default: a check-mode drift audit of this
# machine's kernel rules against a sample baseline. Changes nothing on the
# host; writes output/drift-localhost.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
export ANSIBLE_CONFIG="$root/ansible.cfg"
.venv/bin/ansible-playbook -i localhost, -c local -e ansible_python_interpreter=/usr/bin/python3 \
  playbooks/demo_drift.yml --check --diff
echo "Results: $root/output/drift-localhost.json"
