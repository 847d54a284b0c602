# mnemo: the two quickstart commands (`make demo`, `make test`) and a few conveniences.
# Everything builds into build/ (Release) with ccache and the torch precompiled header.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
DEMO_CONFIG ?= launch/configs/cartpole_ppo.yaml
CTEST_FLAGS ?=

.PHONY: all deps configure build demo test test-unit test-integration test-mpi test-learning test-interop build-torch2 peers test-slurm test-stress bench clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) > $(BUILD_DIR).configure.log 2>&1 \
	  || (cat $(BUILD_DIR).configure.log; exit 1)
	@grep -E "^-- mnemo:" $(BUILD_DIR).configure.log || true

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Builds only what the demo needs, then trains CartPole with PPO in one process.
demo: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target mnemo
	$(BUILD_DIR)/mnemo train $(DEMO_CONFIG)

# The whole test suite: unit, integration, mpi and learning tests.
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

test-unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit
test-integration: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L integration
test-mpi: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L mpi
test-learning: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L learning
# Against the real Python tools (Gymnasium, POPGym, MiniGrid, TensorBoard, safetensors, Minari,
# h5py, transformers) from a PyPI virtualenv in build/venv.
test-interop: build
	@bash scripts/python-venv.sh $(BUILD_DIR)/venv
	@cd $(BUILD_DIR) && ctest --output-on-failure -L interop

# The comparisons with the real peers (PyPI virtualenv in build/venv): bench/peers/run.sh.
peers: build
	@bash bench/peers/run.sh $(BUILD_DIR)

# mnemo built against the LibTorch 2.x inside PyPI's torch wheel (build/venv) in build-torch2/, with
# the CUDA/NCCL configuration (the wheel is a CUDA build; this compiles and links it, a GPU runs
# it) and the wheel's own NCCL (its libtorch_cuda needs that version, not the system's: also for
# the linker's check of executables that do not use NCCL themselves), then its
# unit tests on the CPU. Debian's LibTorch 1.13 in build/ stays the default.
TORCH2_DIR ?= build-torch2
build-torch2: deps
	@bash scripts/python-venv.sh $(BUILD_DIR)/venv
	@site=$$($(BUILD_DIR)/venv/bin/python -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))'); \
	  cmake -S . -B $(TORCH2_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DMNEMO_WITH_CUDA=ON $(CMAKE_FLAGS) \
	  -DCMAKE_PREFIX_PATH="$$site/torch" -DNCCL_INCLUDE_DIR="$$site/nvidia/nccl/include" \
	  -DNCCL_LIBRARY="$$(ls $$site/nvidia/nccl/lib/libnccl.so* | head -1)" \
	  -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$$site/nvidia/nccl/lib" \
	  > $(TORCH2_DIR).configure.log 2>&1 || (cat $(TORCH2_DIR).configure.log; exit 1)
	@grep -E "^-- (mnemo:|Found Torch)" $(TORCH2_DIR).configure.log || true
	@cmake --build $(TORCH2_DIR) -j $(JOBS)
	@cd $(TORCH2_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

# Not part of `make test`: the unit and integration tests, STRESS_REPEATS runs each, while every
# core is kept busy (a test that depends on timing fails here first).
STRESS_REPEATS ?= 3
# A throwaway single-node Slurm started by the test itself (needs root and
# scripts/install-deps.sh --slurm; `make test` skips it with a message where Slurm is absent).
test-slurm: build
	@bash scripts/install-deps.sh --slurm
	@cd $(BUILD_DIR) && ctest --output-on-failure -L slurm

test-stress: build
	@bash scripts/test-stress.sh $(BUILD_DIR) $(STRESS_REPEATS) $(CTEST_FLAGS)

bench: build
	@bash bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
