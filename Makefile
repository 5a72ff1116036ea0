# dclkit: `make demo`, `make test`, `make bench`. Each target installs what is missing
# (Debian's OpenBLAS, pip packages), then builds. Needs only the Swift toolchain and Python.

PYTHON ?= python3
PIP := $(PYTHON) -m pip
SWIFT ?= swift
STATIC := -Xswiftc -static-stdlib

.PHONY: demo test bench deps swift-test pytest test-distributed install clean

## deps: Debian's OpenBLAS headers (when missing) and the Python packages tests and demo use.
deps:
	@if ! pkg-config --exists openblas 2>/dev/null || [ ! -f /usr/include/x86_64-linux-gnu/cblas.h ]; then \
		echo "installing libopenblas-dev and pkg-config"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev pkg-config; \
	fi
	@$(PYTHON) -c "import numpy, pytest, safetensors, sklearn, tqdm, matplotlib, PIL, mlxtend, wheel" 2>/dev/null || \
		$(PIP) install -q "numpy>=1.22" pytest safetensors scikit-learn tqdm matplotlib Pillow mlxtend wheel "setuptools>=61"
	@# Open MPI (mpirun, libmpi) and mpi4py for the distributed tests; only multi-machine runs need them.
	@if ! command -v mpirun >/dev/null 2>&1 || ! command -v mpicc >/dev/null 2>&1; then \
		echo "installing openmpi-bin and libopenmpi-dev"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev; \
	fi
	@$(PYTHON) -c "import mpi4py" 2>/dev/null || $(PIP) install -q mpi4py

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
	cd python/tests && $(PYTHON) -m pytest -q -rs .

## test-distributed: only the MPI tests (mpirun -n 2 and -n 4 on this machine).
test-distributed: install
	cd python/tests && $(PYTHON) -m pytest -q -rs test_distributed.py

## bench: the release-mode benchmark tables.
bench: install
	$(SWIFT) run -c release $(STATIC) dclkit-bench

clean:
	rm -rf .build build python/dclkit/libdclkit.so python/*.egg-info
