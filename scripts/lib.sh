# shellcheck shell=bash
# Shared shell helpers for scripts/*. Source it: `. "$(dirname "$0")/lib.sh"`.
# Puts the project venv first on PATH and makes this checkout visible to
# Ansible as the collection quorum.mongodb (through a symlink under build/).
set -euo pipefail
QUORUM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export QUORUM_ROOT
export PATH="$QUORUM_ROOT/.venv/bin:$PATH"
QUORUM_COLLECTIONS="$QUORUM_ROOT/build/collections"
mkdir -p "$QUORUM_COLLECTIONS/ansible_collections/quorum"
ln -sfn "$QUORUM_ROOT" "$QUORUM_COLLECTIONS/ansible_collections/quorum/mongodb"
export ANSIBLE_COLLECTIONS_PATH="$QUORUM_COLLECTIONS"
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
export PYTHONDONTWRITEBYTECODE=1
# tests/ on sys.path makes `python3 -m mongosim` work from the checkout.
export PYTHONPATH="$QUORUM_ROOT/tests${PYTHONPATH:+:$PYTHONPATH}"

log() { printf '\n== %s\n' "$*"; }
