# quorum.mongodb: the two commands users need are `make demo` and `make test`.
# Every target installs what it needs itself (see scripts/); nothing relies on
# a step done by hand. Targets are thin: the logic lives in scripts/.

SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help venv host test lint sanity unit mongosim-test integration molecule \
        artifact docs demo demo-down bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

venv: ## create .venv with the pinned controller tools (requirements.txt)
	@scripts/bootstrap-venv

host: ## install host packages and tools the tests need (podman, mongosh, ...)
	@scripts/setup-host

test: venv host ## run every check: lint, sanity, unit, mongosim, integration, molecule, artifact
	scripts/lint
	scripts/sanity
	scripts/test-unit
	scripts/test-mongosim
	scripts/test-integration
	scripts/test-molecule
	scripts/test-artifact

lint: venv ## ansible-lint (production profile), yamllint, ruff, argument_specs, role READMEs, changelog fragments
	scripts/lint

sanity: venv ## ansible-test sanity with empty ignore files
	scripts/sanity

unit: venv ## pytest unit tests (planner, validation, filters, mongod.conf rendering)
	scripts/test-unit

mongosim-test: venv host ## mongosim fidelity tests with pymongo and mongosh
	scripts/test-mongosim

integration: venv ## module integration tests through ansible-playbook against mongosim
	scripts/test-integration

molecule: venv host ## every molecule scenario on podman containers
	scripts/test-molecule

artifact: venv host ## build the collection tarball, check its files, run the installed copy's site.yml
	scripts/test-artifact

docs: venv ## regenerate the variable tables in roles/*/README.md from argument_specs and defaults
	scripts/render-role-docs --write

demo: venv host ## bring up a 3-member replica set in podman containers
	scripts/demo up

demo-down: venv ## remove the demo containers
	scripts/demo down

bench: venv host ## benchmarks (ratios against baselines measured in the same run)
	scripts/bench

clean: ## remove build output (keeps .venv and the image cache)
	rm -rf build tests/output
