# dclkit: `make demo`, `make test`, `make bench`. Each target installs what is missing
# (Debian's OpenBLAS, pip packages), then builds. Needs only the Swift toolchain and Python.

PYTHON ?= python3
PIP := $(PYTHON) -m pip
SWIFT ?= swift
STATIC := -Xswiftc -static-stdlib

.PHONY: demo test bench deps swift-test pytest install clean

## deps: Debian's OpenBLAS headers and a C compiler (when missing) and the Python packages tests and demo use.
deps:
	@if ! pkg-config --exists openblas 2>/dev/null || [ ! -f /usr/include/x86_64-linux-gnu/cblas.h ]; then \
		echo "installing libopenblas-dev and pkg-config"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev pkg-config; \
	fi
	@command -v cc >/dev/null 2>&1 || { echo "installing gcc (the C examples' test builds examples/c with cc)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; }
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

clean:
	rm -rf .build build python/dclkit/libdclkit.so python/*.egg-info
