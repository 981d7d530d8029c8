# Rampart: two commands do all set-up on a fresh Debian machine (as root).
#   make run    install system libraries if missing, build, serve examples/quickstart
#   make test   install what tests need, build, run every test, fuzz each parser briefly
#   make fuzz   fuzz each parser for FUZZ_SECONDS (libFuzzer + AddressSanitizer)
SHELL := /bin/bash
SWIFT ?= swift
LIBS := libyaml-dev libcurl4-openssl-dev libssl-dev pkg-config
# The Kubernetes stand-in tests drive the real /usr/bin/kubectl: this machine's comes from the `kubectl` package of
# Google's Cloud SDK apt repository; where it is missing, Debian's own `kubernetes-client` package provides one.
KUBECTL_PKG := $(if $(wildcard /usr/bin/kubectl),,kubernetes-client)
TEST_PKGS := curl python3 python3-pip python3-yaml git openssl procps redis-server bc nginx-light prometheus prometheus-alertmanager $(KUBECTL_PKG)
QUICKSTART_UPSTREAM_PORT := 9001

.PHONY: run test build deps test-deps clean crds reference bench differential fuzz fuzz-build

# Install only what is missing; apt-get update at most once.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(LIBS))

test-deps: deps
	$(call apt_install,$(TEST_PKGS))
	@python3 -c 'import moto, boto3, flask' 2>/dev/null && command -v moto_server >/dev/null || \
	  python3 -m pip install -q 'moto[server]==5.2.1' boto3 || python3 -m pip install -q --break-system-packages 'moto[server]==5.2.1' boto3

build: deps
	$(SWIFT) build -c release --product rampart

# Serves examples/quickstart: a local upstream (python http.server) and Rampart in front of it.
run: build
	@set -e; \
	python3 -m http.server $(QUICKSTART_UPSTREAM_PORT) --bind 127.0.0.1 --directory examples/quickstart/www >/dev/null 2>&1 & up=$$!; \
	trap 'kill $$up 2>/dev/null' EXIT INT TERM; \
	echo "upstream: http://127.0.0.1:$(QUICKSTART_UPSTREAM_PORT) (pid $$up)"; \
	echo "try:      curl -s http://127.0.0.1:8080/"; \
	.build/release/rampart run examples/quickstart --listen 127.0.0.1:8080 --admin 127.0.0.1:9180 --state-dir .rampart/quickstart --dev

# The fuzz targets run first so that the test runner's own summary closes the output.
test: test-deps
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Fuzzing: one libFuzzer executable per parser (Fuzz/), built apart in .build-fuzz so the normal build
# stays as it is. New corpus entries and crashes go to FUZZ_OUT, never into Fuzz/corpus.
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 10
FUZZ_BUILD := .build-fuzz
FUZZ_OUT ?= $(FUZZ_BUILD)/out
FUZZ_TARGETS := FuzzRequestHead:http FuzzResponseHead:http FuzzChunked:http FuzzManifest:yaml \
	FuzzEncryptedValue FuzzSecretResponses:json FuzzPEM:pem FuzzPathNormalForm:path FuzzWatchStream:json
# SwiftPM passes --sanitize values one flag each and the driver keeps only the last for compiling,
# so the combined flag goes through -Xswiftc (with --sanitize=fuzzer for the link).
FUZZ_FLAGS := --build-path $(FUZZ_BUILD) -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING

fuzz-build: deps
	@for t in $(FUZZ_TARGETS); do $(SWIFT) build $(FUZZ_FLAGS) --product $${t%%:*} || exit 1; done

fuzz: fuzz-build
	Fuzz/run.sh $(FUZZ_BUILD)/release $(FUZZ_OUT) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

crds:
	$(SWIFT) run rampart crds > manifests/crds/rampart.io_crds.yaml
	cp manifests/crds/rampart.io_crds.yaml charts/rampart/crds/

# docs/reference.md: the block between its BEGIN/END generated markers is replaced by `rampart explain --markdown`.
reference:
	$(SWIFT) run rampart explain --markdown > .build/reference-generated.md
	awk 'FNR == NR { block = block $$0 "\n"; next } \
	     /^<!-- BEGIN generated/ { printf "%s", block; skip = 1; next } \
	     skip && /^<!-- END generated/ { skip = 0; next } \
	     !skip' .build/reference-generated.md docs/reference.md > .build/reference.md
	mv .build/reference.md docs/reference.md

# Benchmarks: figures are ratios against nginx/openssl/boto3 from the same run (bench/README.md).
bench: build test-deps
	$(call apt_install,nginx-light wrk)
	bench/proxy.sh --rampart-bin .build/release/rampart --rounds 5
	bench/plugins.sh --rampart-bin .build/release/rampart --rounds 3
	bench/tls.sh --rounds 3
	bench/reload.sh
	bench/reconcile.sh 10000 100
	bench/kubernetes.sh 10000 100
	bench/diff.sh 3000
	bench/secrets.sh 1000
	bench/crypto.sh
	bench/auth.sh --rampart-bin .build/release/rampart
	$(call apt_install,valgrind)
	$(SWIFT) build -c release --build-tests -Xswiftc -enable-testing
	bench/callgrind.sh

# Differential tests against nginx (Tests/Differential): regenerates the table in docs/security.md and
# fails naming every case where Rampart is less strict than nginx or frames a request differently.
differential: test-deps
	$(SWIFT) build --product rampart
	python3 Tests/Differential/driver.py --rampart $(CURDIR)/.build/debug/rampart --out docs/security.md

clean:
	rm -rf .build .build-fuzz .rampart
