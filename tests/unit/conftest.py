"""Make the checkout importable as ansible_collections.quorum.mongodb for module_utils tests.

scripts/lib.sh links the checkout to build/collections/ansible_collections/quorum/mongodb;
this puts build/collections on sys.path (only for the unit tests, so ansible's own
collection loader is never shadowed when playbooks run).
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "quorum" / "mongodb"
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to(ROOT)
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
