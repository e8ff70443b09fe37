# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.install.stamp

.PHONY: install demo test bench clean

install: $(STAMP)

# Re-runs only when the package metadata changes; torch is pinned first so pip takes the CPU
# build that lies on this machine class instead of downloading a CUDA build.
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "torch==2.13.0"
	$(VPY) -m pip install -q -e ".[test,bench]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/fastrlap sim view track=oval

test: install
	$(VPY) -m pytest -q

bench: install
	$(VPY) scripts/bench_sim.py

clean:
	rm -rf $(VENV) build *.egg-info
