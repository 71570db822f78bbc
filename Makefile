# The README's two commands: `make up` and `make test`. Both install any
# missing Debian packages first (scripts/deps.sh).
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory

.PHONY: all deps build up down test test-asan fuzz bench clean runner-image

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Start berthd on the embedded default (SQLite in ./var) and print how to log in.
up: build
	@./scripts/up.sh

down:
	@./scripts/down.sh

# The whole suite: cmocka unit tests and integration tests against real processes.
test: build
	@ctest --test-dir $(BUILD) --output-on-failure --timeout 600

# The same suite built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBERTH_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure --timeout 900

# libFuzzer drivers (tests/fuzz/, clang + ASan + UBSan), each run for
# FUZZ_SECONDS on its seed corpus; a crash fails with the reproducer's path.
# Long runs: FUZZ_SECONDS=1800 FUZZ_RUNS=10000000 scripts/fuzz.sh build-fuzz NAME
fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DBERTH_FUZZ=ON -DBERTH_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzzers
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh $(FUZZ_BUILD)

# Docker image berth-runner:VERSION (and :latest): the static runner on a
# debootstrap'ed Debian base (cached as berth-debian-base:bookworm) with git,
# curl, CA certificates and the docker CLI. No registry needed.
runner-image: build
	@./scripts/runner-image.sh --binary $(BUILD)/berth-runner

bench: build
	@bench/api.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
