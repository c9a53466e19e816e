"""Make the checkout importable as ansible_collections.immutable.audit.

scripts/bootstrap.sh links the checkout into .cache/collections; this puts
that directory on sys.path so tests import the collection by its real name.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "immutable", "audit")):
    raise RuntimeError("run scripts/bootstrap.sh first: the collection link is missing")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
