# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.install.stamp

.PHONY: install demo lint test bench clean firmware-deps firmware browser-deps

install: $(STAMP)

# Re-runs only when the package metadata changes; torch is pinned first to the version the tests
# run with, so a pip index that offers a CPU build (several GB smaller than CUDA's) supplies it.
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "torch==2.13.0"
	$(VPY) -m pip install -q -e ".[test,bench]"
	touch $(STAMP)
	@echo "fastrlap is installed in $(VENV): in each new shell run 'source $(VENV)/bin/activate' first"

# The whole job on the simulator: one slow demo lap, then 8 simulated minutes of practice
# (about 4 minutes of wall time on 2 cores: long enough to watch the laps get faster). The speed
# box that widens over the first minute keeps the car from crawling at the start; on the oval it
# made the worst of four seeds much better (docs/experiments/practice.md).
demo: install
	$(VENV)/bin/fastrlap practice track=oval practice.minutes=8 agent.action_limit_schedule=600 wandb.mode=disabled
	@echo "next: 'source $(VENV)/bin/activate', then the README's commands (fastrlap --help lists them)"

# Style (ruff) and the package's layers (import-linter; the contracts are in pyproject.toml).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: install lint firmware-deps browser-deps
	$(VPY) -m pytest -q

# Debian packages a target needs: installs only what `dpkg -s` reports missing; without root it
# prints the command instead, and the tests that need them skip.
# $(call debs,TARGET,PACKAGES,WHAT IS SKIPPED WITHOUT THEM)
define debs
	@command -v dpkg >/dev/null || { echo "$(1): not a Debian system; install: $(2)"; exit 0; }; \
	missing=""; for p in $(2); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; } || \
		echo "$(1): could not install$$missing; $(3) will be skipped"; \
	else \
		echo "$(1): missing$$missing; run: sudo apt-get update && sudo apt-get install -y$$missing"; \
	fi
endef

# AVR toolchain + simavr for firmware/ and the `hil` tests.
FIRMWARE_DEBS := gcc-avr avr-libc simavr libsimavr-dev libsimavrparts1 libelf-dev

firmware-deps:
	$(call debs,firmware-deps,$(FIRMWARE_DEBS),the firmware and hil tests)

# Debian's chromium and its driver, for the field console's browser tests (Selenium drives the
# system browser; nothing is downloaded at test time).
BROWSER_DEBS := chromium chromium-driver

browser-deps:
	$(call debs,browser-deps,$(BROWSER_DEBS),the console's browser tests)

firmware: firmware-deps
	$(MAKE) -C firmware all

bench: install
	$(VPY) scripts/bench_sim.py

clean:
	rm -rf $(VENV) build *.egg-info
