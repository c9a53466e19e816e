"""Stand-in for the get-pip script ansible-test downloads (its host is not
reachable from the project's machines): bootstrap pip from the venv's own
ensurepip, then try the pip version ansible-test asks for."""
import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
wanted = [a for a in sys.argv[1:] if not a.startswith("--")]
if wanted:
    subprocess.call([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + wanted)
