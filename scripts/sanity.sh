#!/usr/bin/env bash
# ansible-test sanity on a copy of the checkout laid out as
# ansible_collections/immutable/audit. Not yet part of scripts/test.sh: on the
# project's machines ansible-test's own venv bootstrap fails (it downloads
# get-pip from a host that is not reachable, and its isolated pip does not
# trust the registry proxy's certificate); see the issue notes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
sanity() {
  # ansible-test bootstraps pip in its venvs from a script it downloads from
  # a host this machine cannot reach; give it one that uses ensurepip.
  local shim="$HOME/.ansible/test/cache/get_pip_24_2.py"
  mkdir -p "$(dirname "$shim")"
  sed "s|@PROJECT_PYTHON@|$root/.venv/bin/python|" scripts/get_pip_shim.py > "$shim"
  # ansible-test needs the collection under ansible_collections/NS/NAME.
  local tree dest rc=0
  tree=$(mktemp -d)
  dest="$tree/ansible_collections/immutable/audit"
  mkdir -p "$dest"
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$dest"
  (cd "$dest" && git init -q && git add -A &&
    ansible-test sanity --venv --python 3.11) || rc=$?
  rm -rf "$tree"
  return $rc
}


sanity
