# dclkit: `make demo`, `make test`, `make bench`. Each target installs what is missing
# (Debian's OpenBLAS, pip packages), then builds. Needs only the Swift toolchain and Python.

PYTHON ?= python3
PIP := $(PYTHON) -m pip
SWIFT ?= swift
STATIC := -Xswiftc -static-stdlib

.PHONY: demo test bench bench-peers deps swift-test pytest install clean

## deps: Debian's OpenBLAS headers (when missing) and the Python packages tests and demo use.
deps:
	@if ! pkg-config --exists openblas 2>/dev/null || [ ! -f /usr/include/x86_64-linux-gnu/cblas.h ]; then \
		echo "installing libopenblas-dev and pkg-config"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev pkg-config; \
	fi
	@$(PYTHON) -c "import numpy, pytest, safetensors, sklearn, tqdm, matplotlib, PIL, mlxtend, wheel" 2>/dev/null || \
		$(PIP) install -q "numpy>=1.22" pytest safetensors scikit-learn tqdm matplotlib Pillow mlxtend wheel "setuptools>=61"

## install: builds the Swift library in release mode and installs the Python package.
install: deps
	$(PIP) install -q --no-build-isolation .

## demo: trains on the built-in dataset and prints what it learned.
demo: install
	$(PYTHON) -m dclkit demo --out demo-out

## test: the Swift XCTest suite, then the Python tests against the installed package.
test: install swift-test pytest

swift-test: deps
	$(SWIFT) test

pytest: install
	cd python/tests && $(PYTHON) -m pytest -q .

## bench: the release-mode benchmark tables.
bench: install
	$(SWIFT) run -c release $(STATIC) dclkit-bench

## bench-peers: dclkit against PyTorch + lightly for a whole DCL step (never part of `make test`).
## PyTorch, torchvision and lightly (about 5 GB, once) go into the ignored virtual environment
## $(PEERS); dclkit runs from this checkout's release library.
PEERS := .peers
bench-peers: deps
	@$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv)
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	@$(PEERS)/bin/python -c "import torch, torchvision, lightly, numpy" 2>/dev/null || \
		$(PEERS)/bin/pip install -q torch torchvision lightly numpy
	$(SWIFT) build -c release --product dclkit $(STATIC)
	DCLKIT_LIBRARY=$(CURDIR)/.build/release/libdclkit.so PYTHONPATH=$(CURDIR)/python \
		$(PEERS)/bin/python bench/peers/bench_peers.py

clean:
	rm -rf .build build python/dclkit/libdclkit.so python/*.egg-info
