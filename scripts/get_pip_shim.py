"""Stand-in for the get-pip script that ansible-test downloads (its host is
not reachable from the project's machines). ansible-test runs it with the
interpreter of a fresh venv that has no pip; this installs what it asks for
into that interpreter with the project venv's pip (``pip --python``), which
uses the machine's registry settings. scripts/sanity.sh writes the project
venv's path in place of the marker below."""
import subprocess
import sys

PROJECT_PYTHON = "@PROJECT_PYTHON@"
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([PROJECT_PYTHON, "-m", "pip", "--python", sys.executable, "install"] + args))
