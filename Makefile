# Entry points for people and CI. Each target installs what is missing first (scripts/install-deps).
#   make run     build, then start cloudletd on 127.0.0.1:8470 with ./var/cloudlet.db (ARGS="..." adds flags)
#   make test    build, then run every test (unit and integration) with ctest
#   make bench   build the benchmarks (Release) and run them; figures go to docs/performance.md by hand
SHELL := /bin/bash
JOBS ?= 2
ARGS ?=

.PHONY: deps build run test test-unit bench clean

deps:
	@scripts/install-deps

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

run: build
	./build/bin/cloudletd $(ARGS)

test: build
	ctest --preset release -j $(JOBS)

test-unit: build
	ctest --preset release -L unit

bench:
	@scripts/install-deps --bench
	@cmake --preset bench >/dev/null
	@cmake --build --preset bench -j $(JOBS)
	bench/run-registry-bench
	build-bench/bin/discovery_bench
	bench/run-usage-bench

clean:
	rm -rf build build-debug build-asan build-bench
