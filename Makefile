# ProxyReplacement: top-level build. `make demo` and `make test` are the two set-up commands.
SHELL := /bin/bash
CONFIGURATION ?= Release
DOTNET ?= dotnet

.PHONY: all deps bpf build test demo bench bench-smoke clean

all: build

deps:
	@bash scripts/install-deps.sh

bpf:
	$(MAKE) -C bpf-c

# The daemon and CLI, runnable as ./bin/service-proxy once src/ServiceProxy exists.
build: deps bpf
	$(DOTNET) build ProxyReplacement.slnx -c $(CONFIGURATION) --nologo -v q
	@if [ -d src/ServiceProxy ]; then \
	  $(DOTNET) publish src/ServiceProxy -c $(CONFIGURATION) --nologo -v q -o bin/publish && \
	  ln -sf publish/service-proxy bin/service-proxy; fi

test: build
	bash scripts/run-tests.sh

demo: build
	bash scripts/demo.sh

# The benchmarks (root; BPF and network namespaces): writes BENCHMARKS.md. Takes a while.
bench: build
	bash scripts/bench.sh --report BENCHMARKS.md

# Tiny sizes, so the harness cannot rot; `make test` runs it. Its numbers mean nothing.
bench-smoke: build
	bash scripts/bench.sh --smoke --report artifacts/bench-smoke.md

clean:
	$(MAKE) -C bpf-c clean
	rm -rf bin artifacts
	find src tests e2e -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} +
