# ProxyReplacement: top-level build. `make demo` and `make test` are the two set-up commands.
SHELL := /bin/bash
CONFIGURATION ?= Release
DOTNET ?= dotnet

.PHONY: all deps bpf build test demo bench bench-smoke chart image image-test clean

all: build

deps:
	@bash scripts/install-deps.sh

bpf:
	$(MAKE) -C bpf-c

# The daemon and CLI, runnable as ./bin/service-proxy once src/ServiceProxy exists.
build: deps bpf
	$(DOTNET) build ProxyReplacement.sln -c $(CONFIGURATION) --nologo -v q
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

# The Helm chart rendered with its defaults, as `helm template` would (tests/ChartRender: Go text/template + sprig,
# offline with Debian's Go); K8S_API_HOST is the API server address the chart requires.
K8S_API_HOST ?= 10.0.0.1
chart:
	@mkdir -p artifacts
	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= go build -o artifacts/chart-render ./tests/ChartRender
	artifacts/chart-render --set k8sServiceHost=$(K8S_API_HOST) charts/proxy-replacement > artifacts/proxy-replacement.yaml
	@echo "rendered to artifacts/proxy-replacement.yaml"

# The container image from the Dockerfile, built with podman from local bases (no registry here) and saved as a
# docker-archive (podman load / docker load). With a registry: docker build -t IMAGE . uses the public bases.
image: deps
	bash scripts/image-build.sh --tag localhost/proxy-replacement:dev --save artifacts/proxy-replacement-image.tar

# The chart and image tests alone (`make test` runs them too): render and check the chart, build the image, run it
# as a node's daemon with only its documented capabilities through the ClusterIP traffic checks.
image-test: build
	dotnet test tests/Shipping.Tests -c $(CONFIGURATION) --nologo -v q --logger "console;verbosity=normal"

clean:
	$(MAKE) -C bpf-c clean
	rm -rf bin artifacts
	find src tests e2e -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} +
