# Rampart's container image: build with the official Swift image, run on slim Debian with only the
# three C libraries the binary links (libyaml, libcurl, OpenSSL 3) and CA certificates.
#   docker build -t rampart:dev .
# Tests/DeployTests/DockerfileTests checks this file against the libraries the built binary needs
# (no container engine runs in the test environment, so the image itself is not built there).

# The toolchain the tests use (swift --version); the test fails if the two drift apart.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libyaml-dev libcurl4-openssl-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Package.swift names the test and fuzz targets too, so SwiftPM needs their folders to load it.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY Fuzz ./Fuzz
# The Swift runtime and Foundation are linked in: the runtime image needs no Swift toolchain.
# Stripped: 81 MB with symbols, 61 MB without.
RUN swift build -c release --product rampart --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/rampart" /out/rampart \
 && strip /out/rampart

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libyaml-0-2 libcurl4 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid (65532, as the manifests' runAsUser), numeric so that the kubelet can
# check runAsNonRoot. The state dir is 0700, as Rampart keeps it.
RUN groupadd --system --gid 65532 rampart \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/rampart --no-create-home --shell /usr/sbin/nologin rampart \
 && install -d -o 65532 -g 65532 -m 0700 /var/lib/rampart
COPY --from=build /out/rampart /usr/local/bin/rampart
USER 65532:65532
WORKDIR /var/lib/rampart
EXPOSE 8080 8443 9180
ENTRYPOINT ["rampart"]
CMD ["run", "/etc/rampart/manifests", "--state-dir", "/var/lib/rampart"]
