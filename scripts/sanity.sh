#!/usr/bin/env bash
# ansible-test sanity (every default test, empty ignore files) on a copy of
# the checkout laid out as ansible_collections/immutable/audit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"

# ansible-test bootstraps pip in each of its venvs with a script it downloads
# from a host the project's machines cannot reach; this stands in for it.
shim="$HOME/.ansible/test/cache/get_pip_24_2.py"
mkdir -p "$(dirname "$shim")"
sed "s|@PROJECT_PYTHON@|$root/.venv/bin/python|" scripts/get_pip_shim.py > "$shim"

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
dest="$tree/ansible_collections/immutable/audit"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$dest"
cd "$dest"
git init -q
git add -A
ansible-test sanity --venv --python 3.11
