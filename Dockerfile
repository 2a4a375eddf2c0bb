# ProxyReplacement: the service-proxy daemon (a kube-proxy replacement) as a container image.
#
#   podman build -t proxy-replacement:dev .          (or docker build)
#
# Three stages: the BPF objects with clang, `dotnet publish` of the daemon (the objects embedded), and a slim
# runtime with libbpf, OpenSSL and the .NET runtime copied from the SDK stage. The base images are build
# arguments: the defaults are the public images; scripts/image-build.sh builds the same file from local
# bases (a debootstrapped Debian and this machine's .NET SDK) where no registry is reachable.
#
# Run it as root with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON only (docs/capabilities.md says why each);
# the Helm chart in charts/proxy-replacement does.

# Debian 12 with clang 14 and libbpf 1.1 headers: the toolchain the objects are built and tested with.
ARG BPF_BUILDER_IMAGE=debian:bookworm
# The .NET 10 SDK; the publish carries the runtime it was built with (self-contained), so the daemon runs on exactly it.
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
# Debian 12 slim, not runtime-deps:10.0 (Ubuntu 24.04 since .NET 10): libbpf 1.1, the library version the
# daemon's interop is tested against, and the same distribution the BPF stage compiles against.
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BPF_BUILDER_IMAGE} AS bpf
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang libbpf-dev linux-libc-dev make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src/bpf-c
COPY bpf-c/ ./
# Only the daemon's objects (default and compat builds), not the test-only ones.
RUN make $(for f in *.bpf.c; do printf 'build/%s.bpf.o build/%s_compat.bpf.o ' "${f%.bpf.c}" "${f%.bpf.c}"; done)

FROM ${SDK_IMAGE} AS publish
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
WORKDIR /src
COPY Directory.Build.props ./
COPY src/Dataplane/Dataplane.csproj src/Dataplane/
COPY src/ServiceProxy/ServiceProxy.csproj src/ServiceProxy/
RUN dotnet restore src/ServiceProxy/ServiceProxy.csproj -p:ReadyToRunRestore=true
COPY src/ src/
COPY --from=bpf /src/bpf-c/build/*.bpf.o bpf-c/build/
# SkipBpfBuild: embed the objects of the bpf stage instead of running make (no clang here). The publish is self-contained,
# trimmed and one composite ReadyToRun image (ServiceProxy.csproj): the runtime and the part of the framework the daemon
# uses travel in /app, compiled ahead of time with it, for a fast cold start; no shared runtime is copied.
RUN dotnet publish src/ServiceProxy/ServiceProxy.csproj -c Release --no-restore -p:SkipBpfBuild=true -p:ReadyToRunRestore=true -o /app \
 && rm -f /app/*.pdb /app/*.dbg

FROM ${RUNTIME_IMAGE} AS runtime
ARG RUNTIME_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="proxy-replacement" \
      org.opencontainers.image.description="service-proxy: a kube-proxy replacement with an eBPF dataplane (TC NAT and connect-time balancing)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
# libbpf1: the dataplane's loader (P/Invoke to libbpf.so.1); libssl3: TLS to the API server. Nothing else:
# the daemon runs no tools (no iproute2, no iptables) and uses invariant globalization (no ICU).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 libssl3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=publish /app/ /app/
RUN ln -s /app/service-proxy /usr/bin/service-proxy
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1
# The healthz (/healthz, /readyz) and metrics ports, kube-proxy's.
EXPOSE 10256 10249
ENTRYPOINT ["/app/service-proxy"]
CMD ["--help"]
