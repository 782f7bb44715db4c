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

# pytest_workers: the number of pytest-xdist workers a suite runs on, from QUORUM_TEST_WORKERS (2 by default, one
# per core of our machines; 0 runs it in one process, as -s or a debugger wants). Each test makes its own members
# on its own ports and files, so the workers share nothing; each worker is the other's load, which the suites must
# hold (tests/README.md "Under load").
pytest_workers() {
  local workers=${QUORUM_TEST_WORKERS:-2}
  if [[ ! $workers =~ ^[0-9]+$ ]]; then
    echo "QUORUM_TEST_WORKERS must be a whole number of workers (0 for one process), got '$workers'" >&2
    return 2
  fi
  echo "$workers"
}
