# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.install.stamp

.PHONY: install demo test bench clean firmware-deps firmware browser-deps

install: $(STAMP)

# Re-runs only when the package metadata changes; torch is pinned first so pip takes the CPU
# build that lies on this machine class instead of downloading a CUDA build.
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "torch==2.13.0"
	$(VPY) -m pip install -q -e ".[test,bench]"
	touch $(STAMP)
	@echo "fastrlap is installed in $(VENV): in each new shell run 'source $(VENV)/bin/activate' first"

# The whole job on the simulator: one slow demo lap, then 8 simulated minutes of practice
# (about 4 minutes of wall time on 2 cores: long enough to watch the laps get faster).
demo: install
	$(VENV)/bin/fastrlap practice track=oval practice.minutes=8 wandb.mode=disabled
	@echo "next: 'source $(VENV)/bin/activate', then the README's commands (fastrlap --help lists them)"

test: install firmware-deps browser-deps
	$(VPY) -m pytest -q

# AVR toolchain + simavr (Debian packages) for firmware/ and the `hil` tests. Installs only what
# `dpkg -s` reports missing; without root it prints the command instead (those tests then skip).
FIRMWARE_DEBS := gcc-avr avr-libc simavr libsimavr-dev libsimavrparts1 libelf-dev

firmware-deps:
	@command -v dpkg >/dev/null || { echo "firmware-deps: not a Debian system; install: $(FIRMWARE_DEBS)"; exit 0; }; \
	missing=""; for p in $(FIRMWARE_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; } || \
		echo "firmware-deps: could not install$$missing; the firmware and hil tests will be skipped"; \
	else \
		echo "firmware-deps: missing$$missing; run: sudo apt-get update && sudo apt-get install -y$$missing"; \
	fi

# Debian's chromium and its driver, for the field console's browser tests (Selenium drives the
# system browser; nothing is downloaded at test time). Same pattern as firmware-deps.
BROWSER_DEBS := chromium chromium-driver

browser-deps:
	@command -v dpkg >/dev/null || { echo "browser-deps: not a Debian system; install: $(BROWSER_DEBS)"; exit 0; }; \
	missing=""; for p in $(BROWSER_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; } || \
		echo "browser-deps: could not install$$missing; the console's browser tests will be skipped"; \
	else \
		echo "browser-deps: missing$$missing; run: sudo apt-get update && sudo apt-get install -y$$missing"; \
	fi

firmware: firmware-deps
	$(MAKE) -C firmware all

bench: install
	$(VPY) scripts/bench_sim.py

clean:
	rm -rf $(VENV) build *.egg-info
