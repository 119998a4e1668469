# Entry points for people and CI. Each target installs what is missing first (scripts/install-deps).
#   make run     build the binaries (not the tests), then start cloudletd on 127.0.0.1:8470 with ./var/cloudlet.db (ARGS="..." adds flags)
#   make test    build, lint api/openapi.json, then run every test (unit and integration) with ctest
#   make sim     build the binaries, then simulate SCENARIO (campus, city, highway; default campus) into build/sim-SCENARIO
#   make docs-tables   rewrite the simulator's tables in README.md and docs/sim.md from a fresh run
#   make bench   build the benchmarks (Release) and the binaries, and run them (bench/run-*-bench --docs write docs/performance.md)
#   make fuzz    build the libFuzzer targets (clang-15) and run each for FUZZ_SECONDS (default 60)
#   make package build the binaries, then a .deb of them with systemd units and /etc/cloudlet (build/packages/)
#   make package-test   install that .deb on this machine, check it (user, files, systemd-analyze verify, a start), purge it
SHELL := /bin/bash
JOBS ?= 2
ARGS ?=
SCENARIO ?= campus
FUZZ_SECONDS ?= 60

.PHONY: deps configure build apps run sim test test-unit bench clean docs-tables lint-api fuzz package package-test

deps:
	@scripts/install-deps

configure: deps
	@cmake --preset release >/dev/null

build: configure
	@cmake --build --preset release -j $(JOBS)

# The three binaries alone: `make run` and `make sim` do not wait for the test suites.
apps: configure
	@cmake --build --preset release -j $(JOBS) --target cloudletd cloudlet cloudlet-agent

run: apps
	./build/bin/cloudletd $(ARGS)

sim: apps
	./build/bin/cloudlet sim --scenario sim/scenarios/$(SCENARIO).json --out build/sim-$(SCENARIO) $(ARGS)

# The simulator's tables in README.md and docs/sim.md, from a fresh seeded run (never by hand).
docs-tables: apps
	scripts/docs-tables

test: build
	scripts/lint-openapi
	ctest --preset release -j $(JOBS)

# The OpenAPI description, by a maintained linter (installed from npm on first use).
lint-api: deps
	scripts/lint-openapi

# Every fuzz target for FUZZ_SECONDS on its seeds (scripts/fuzz; a finding fails it).
fuzz:
	scripts/fuzz --seconds $(FUZZ_SECONDS)

# The binaries alone, then CPack (it installs what is built; the test suites are not built for it).
package: apps
	@cd build && cpack --config CPackConfig.cmake

package-test: package
	scripts/test-package

test-unit: build
	ctest --preset release -L unit

bench: apps
	@scripts/install-deps --bench
	@cmake --preset bench >/dev/null
	@cmake --build --preset bench -j $(JOBS)
	bench/run-registry-bench
	bench/run-scale-bench
	build-bench/bin/discovery_bench
	bench/run-usage-bench
	bench/run-sim-bench
	bench/run-runtime-bench
	bench/run-vm-bench
	bench/run-dns-bench --docs
	bench/run-client-bench --docs
	bench/run-shared-bench --docs

clean:
	rm -rf build build-debug build-asan build-bench
