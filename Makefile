# rollcheck: build, test, demo. `make test` is what CI runs (via .ci/run).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
GO ?= go
# What a user gets (make install, the release archives, the image): a static
# binary without this machine's paths or the symbol table and DWARF, about
# 54 MB where `make build`'s is 100 MB; `make build` keeps them for
# debuggers and profiles. The version is stamped in both.
RELEASE_GOFLAGS = -trimpath -ldflags "$(LDFLAGS) -s -w"
BIN := $(CURDIR)/bin
# The end-to-end tests and the demo need the lab binaries.
LAB_BINS := $(BIN)/rollcheck-lab $(BIN)/agnhost $(BIN)/kubectl

.PHONY: all build image lab lab-node lab-traefik test check unit-test lab-test lab-node-test e2e e2e-bin e2e-real e2e-all e2e-nodes lint demo demo-strategies demo-modes demo-scale bench clean

all: build lab

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/rollcheck ./cmd/rollcheck

# rollcheck's own image, rollcheck/rollcheck:$(VERSION), the one attacker
# pods run: a static binary in a distroless-like image, written by
# rollcheck-lab (go-containerregistry, no Docker daemon) as a docker-archive
# that `ctr images import` and `rollcheck-lab image load` read. Prints
# "image REF DIGEST".
IMAGE_DIR := $(BIN)/image
image:
	CGO_ENABLED=0 $(GO) build $(RELEASE_GOFLAGS) -o $(IMAGE_DIR)/rollcheck ./cmd/rollcheck
	cd lab && $(GO) build -o $(BIN)/rollcheck-lab ./cmd/rollcheck-lab
	$(BIN)/rollcheck-lab image rollcheck --binary $(IMAGE_DIR)/rollcheck --version $(VERSION) --out $(IMAGE_DIR)/rollcheck.tar

# The lab builds the real kube-apiserver, controller-manager and scheduler:
# about 10 minutes cold on 2 cores, seconds when the build cache is warm.
lab:
	cd lab && $(GO) build -o $(BIN)/rollcheck-lab ./cmd/rollcheck-lab
	cd lab && CGO_ENABLED=0 $(GO) build -o $(BIN)/agnhost k8s.io/kubernetes/test/images/agnhost
	cd lab && CGO_ENABLED=0 $(GO) build -o $(BIN)/demo-app ./cmd/demo-app
	cd lab && $(GO) build -o $(BIN)/kubectl k8s.io/kubernetes/cmd/kubectl

# Debian's nginx for the image rollcheck/nginx:1.22 (issue 23), run as the
# package runs it, taken from the package without installing it (that would
# start a server on the host's port 80): apt-get download into bin/debs,
# dpkg-deb -x into bin/nginx-root. Only when the binary is missing, and
# like the images only where /bin/busybox is. The image gets the host's
# libraries nginx links (libpcre2-8-0, libssl3, zlib1g, libcrypt1: .ci/run
# installs them).
NGINX_ROOT := $(BIN)/nginx-root
NGINX := $(NGINX_ROOT)/usr/sbin/nginx
$(NGINX):
	@[ -x /bin/busybox ] || exit 0; \
	mkdir -p $(BIN)/debs && cd $(BIN)/debs && rm -f nginx_*.deb && \
	{ apt-get download -qq nginx 2>/dev/null || { apt-get update -qq && apt-get download -qq nginx; }; } || { \
		echo "lab-node: cannot download Debian's nginx package into $(BIN)/debs (apt-get download nginx, retried after apt-get update)." >&2; \
		echo "  It needs Debian's apt with its package lists: run 'apt-get update' as root and check the network," >&2; \
		echo "  or extract the package yourself: dpkg-deb -x nginx_*.deb $(NGINX_ROOT)" >&2; exit 1; }; \
	rm -rf $(NGINX_ROOT).tmp && dpkg-deb -x nginx_*.deb $(NGINX_ROOT).tmp && \
	rm -rf $(NGINX_ROOT) && mv $(NGINX_ROOT).tmp $(NGINX_ROOT) && test -x $(NGINX) && \
	echo "lab-node: Debian's nginx $$(dpkg-deb -f nginx_*.deb Version) extracted into $(NGINX_ROOT)"

# Debian's Apache httpd for the image rollcheck/httpd:2.4 (issue 23), the
# same way: the apache2-bin package (the binary and its modules) downloaded
# and extracted into bin/apache-root, never installed. The image gets the
# host's libraries they link (libapr1, libaprutil1: .ci/run installs them),
# and libgcc_s, which glibc loads when a thread exits.
APACHE_ROOT := $(BIN)/apache-root
APACHE := $(APACHE_ROOT)/usr/sbin/apache2
$(APACHE):
	@[ -x /bin/busybox ] || exit 0; \
	mkdir -p $(BIN)/debs && cd $(BIN)/debs && rm -f apache2-bin_*.deb && \
	{ apt-get download -qq apache2-bin 2>/dev/null || { apt-get update -qq && apt-get download -qq apache2-bin; }; } || { \
		echo "lab-node: cannot download Debian's apache2-bin package into $(BIN)/debs (apt-get download apache2-bin, retried after apt-get update)." >&2; \
		echo "  It needs Debian's apt with its package lists: run 'apt-get update' as root and check the network," >&2; \
		echo "  or extract the package yourself: dpkg-deb -x apache2-bin_*.deb $(APACHE_ROOT)" >&2; exit 1; }; \
	rm -rf $(APACHE_ROOT).tmp && dpkg-deb -x apache2-bin_*.deb $(APACHE_ROOT).tmp && \
	rm -rf $(APACHE_ROOT) && mv $(APACHE_ROOT).tmp $(APACHE_ROOT) && test -x $(APACHE) && \
	echo "lab-node: Debian's apache2-bin $$(dpkg-deb -f apache2-bin_*.deb Version) extracted into $(APACHE_ROOT)"

# The real node (rollcheck-lab up --node real): the upstream kubelet and
# kube-proxy; the static demo app (make lab; the process kubelet runs it
# too) goes into the lab's images with agnhost (static too, so that an
# image needs no libc), and Debian's nginx (NGINX) and Apache (APACHE) into
# images of their own with the host's libraries they link.
K8S_VERSION := v1.35.4
lab-node: lab image $(NGINX) $(APACHE)
	cd lab && $(GO) build -ldflags "-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION)" -o $(BIN)/kubelet k8s.io/kubernetes/cmd/kubelet
	cd lab && $(GO) build -ldflags "-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION)" -o $(BIN)/kube-proxy k8s.io/kubernetes/cmd/kube-proxy
	@# The lab's image archives for up --node real, with the sums of what they
	@# are made of (up writes its own, seconds of CPU, when those changed).
	@# nginx's and Apache's libraries are summed as the files they resolve
	@# to, as the image reads them (ldd only lists them: it runs none of
	@# their code).
	if [ -x /bin/busybox ]; then $(BIN)/rollcheck-lab image build --bin-dir $(BIN) --out $(BIN)/images >/dev/null && \
		sha256sum $(BIN)/demo-app $(BIN)/agnhost /bin/busybox $(NGINX) $(APACHE) $(APACHE_ROOT)/usr/lib/apache2/modules/*.so \
			$$({ for b in $(NGINX) $(APACHE); do ldd $$b; done; echo /lib/$$(uname -m)-linux-gnu/libgcc_s.so.1; } | awk '$$2 == "=>" && $$3 ~ /^\// { print $$3 } $$1 ~ /^\// { print $$1 }' | xargs -r readlink -f | sort -u) \
			> $(BIN)/images/sources.sha256; fi

# The real node's ingress front (rollcheck-lab up --node real --ingress):
# Traefik v3.5.0 built from the Go module proxy in its own module (see
# hack/lab-traefik.sh), in a directory beside the Go build cache so that a
# repeat build is warm: cold 6 min 20 s on an idle 2-core machine (28 min
# under parallel builds), 2 s warm (the kept binary is copied).
lab-traefik:
	GO=$(GO) bash hack/lab-traefik.sh $(BIN)/traefik

test: unit-test lab-test e2e-all lab-node-test

unit-test:
	$(GO) test -race -count=1 ./...

# Lab unit tests; the control-plane package is tested without -race because
# instrumenting all of Kubernetes would double the build.
lab-test:
	cd lab && $(GO) test -race -count=1 ./kubelet/... ./lb/... ./app/... ./netns/... ./apiwait/... ./image/...
	cd lab && $(GO) test -count=1 ./cluster/... ./node/...

# The real node end to end (root; Debian's containerd, runc and CNI plugins):
# up --node real, 3 agnhost pods, a rollout restart, down, and the host
# compared before and after; then 3 real nodes, pods spread over them and
# reaching each other, up killed with SIGKILL, down, the host compared.
lab-node-test: lab-node
	cd lab && ROLLCHECK_LAB_REAL_NODE_BIN=$(BIN) $(GO) test -count=1 -v -run 'TestRealNodeE2E|TestRealNodesE2E' ./cluster/

# The end-to-end suite runs side by side on a few labs (e2e/runner): each
# lab runs one test at a time, longest first by the durations of an earlier
# run (e2e/testdata/durations.tsv; this run's go to bin/e2e-durations.tsv),
# and the runner prints the ten slowest tests at the end. On 2 cores the
# suite mostly waits, so two process labs and a real one side by side take
# about as long as the real lab's tests alone (25 min of them; the process
# labs' 39 min split in two), where a third process lab only added load:
# timing-sensitive tests failed beside it in CI runs ci18-ci20 (a routing
# lag, a shutdown and an in-cluster run's rate measured under starvation).
E2E_PROCESS_LABS ?= 2
E2E_REAL_LABS ?= 1
E2E_NODES_LABS ?= 2
# A test that loads both cores on purpose (it asks for 200000 requests/s)
# runs first, alone, so that it starves no other test's load generator; so
# does the nightly CronJob, whose in-cluster rollcheck shares the real
# node's CPU with the pods it loads (beside the others it went INCONCLUSIVE
# for want of rate in CI run ci18, and saw kube-proxy 6.45 s late in ci19).
E2E_ALONE := ^(TestFailureLoadCannotKeepUp|TestNightlyCronJob)$$
E2E_ENV := ROLLCHECK_BIN=$(BIN)/rollcheck ROLLCHECK_LAB_BIN=$(BIN)/rollcheck-lab KUBECTL=$(BIN)/kubectl
E2E_RUN := $(E2E_ENV) $(BIN)/e2e-runner -bin $(BIN)/e2e.test -alone '$(E2E_ALONE)' -durations e2e/testdata/durations.tsv \
	-durations-out $(BIN)/e2e-durations.tsv -logs $(BIN)/e2e-logs
# The end-to-end tests that matter most, again on the lab's real node
# (upstream kubelet, containerd, kube-proxy). Needs root and Debian's
# containerd, runc and CNI plugins (.ci/run installs them); skipped with a
# message otherwise.
REAL_NODE_TESTS := ^(TestSeedPair|TestHTTP2ThroughKubeProxy|TestNginxStoppedBySIGTERM|TestApacheStoppedBySIGTERM|TestProxySidecarStopsBeforeTheApp|TestAppReadyBeforeItsSidecar|TestRecreateThroughKubeProxyIsNoReadyEndpoints|TestKubeProxyFrontFromAttackers|TestDiagnosisNoHeader[0-9]|TestToBePassesThroughKubeProxy|TestIngressFront|TestGatewayFront|TestRecreateAndSlowStartThroughTraefik|TestWeightedCanaryThroughTheGatewayFront|TestKubectlLogsExecAndPortForwardReachADemoPod|TestFailureAPIServerRestart|TestFailureRolloutNeverCompletes|TestLabRecoversFromAPIServerRestart|TestNightlyCronJob|TestAttackerPodStreamsItsResults|TestAttackerLogSurvivesRotation)$$
REAL_NODE_OK := [ "$$(id -u)" = 0 ] && command -v containerd >/dev/null && command -v runc >/dev/null && [ -x /usr/lib/cni/bridge ]
REAL_NODE_SKIP := echo "e2e: the real node is skipped: it needs root, containerd, runc and the CNI plugins (see README)"

e2e-bin:
	$(GO) test -c -o $(BIN)/e2e.test ./e2e/
	$(GO) build -o $(BIN)/e2e-runner ./e2e/runner

# The process-kubelet lab only.
e2e: build lab e2e-bin
	$(E2E_RUN) -labs process=$(E2E_PROCESS_LABS)

# The real node only.
e2e-real: build lab-node lab-traefik e2e-bin
	@if ! { $(REAL_NODE_OK); }; then $(REAL_NODE_SKIP); exit 0; fi; \
	$(E2E_RUN) -labs real=$(E2E_REAL_LABS) -real-run '$(REAL_NODE_TESTS)'

# Both node modes at once: what make test runs. Where the real node can run,
# the many-nodes tests (NODES_TESTS) run last on two labs of 3 real nodes
# (-late-labs), started once the process labs are done and the real lab runs
# only its tail (E2E_TAIL, -tail): tests whose checks do not hang on timing
# (a lab restart, a stream, kubectl, a Recreate's downtime), so that the
# late labs' start overlaps them and no attribution. Three real nodes beside
# the others starve their timing (ci18; in ci29, begun when only the process
# labs were done, TestGatewayFront's attribution beside them); begun after
# every lab (until ci38) they added 5 to 6 min to the suite. Without a real
# node the drain test runs on the process labs and the others skip.
E2E_TAIL := ^(TestAttackerPodStreamsItsResults|TestKubectlLogsExecAndPortForwardReachADemoPod|TestFailureAPIServerRestart|TestFailureRolloutNeverCompletes|TestLabRecoversFromAPIServerRestart|TestRecreateThroughKubeProxyIsNoReadyEndpoints)$$
NODES_TESTS := ^(TestKubeProxyLagPerNode|TestIPAndInstanceModesOnThreeNodes|TestDrainUnderAPodDisruptionBudget|TestDrainThroughNodeTargetsWithLocalTraffic)$$
e2e-all: build lab-node lab-traefik e2e-bin
	@labs=process=$(E2E_PROCESS_LABS); set --; \
	if { $(REAL_NODE_OK); }; then labs=$$labs,real=$(E2E_REAL_LABS); set -- -late-labs nodes=$(E2E_NODES_LABS) -late-after process -tail '$(E2E_TAIL)' -late-run '$(NODES_TESTS)'; else $(REAL_NODE_SKIP); fi; \
	$(E2E_RUN) -labs $$labs -real-run '$(REAL_NODE_TESTS)' "$$@"

# The many-nodes tests (issue 22) alone on labs of 3 real nodes, one of
# whose kube-proxies is slowed (e2e/nodes_test.go, instance_test.go,
# nodedrain_test.go, nodetarget_test.go); make test runs them in e2e-all,
# on such labs started last.
e2e-nodes: build lab-node e2e-bin
	@if ! { $(REAL_NODE_OK); }; then $(REAL_NODE_SKIP); exit 0; fi; \
	$(E2E_ENV) $(BIN)/e2e-runner -bin $(BIN)/e2e.test -durations e2e/testdata/durations.tsv -labs nodes=$(E2E_NODES_LABS) -run '$(NODES_TESTS)' \
		-logs $(BIN)/e2e-logs-nodes

# Before a commit: lint, unit tests and one end-to-end smoke test per node
# mode (the real node's where the machine allows it), a few minutes warm.
SMOKE_PROCESS := TestPreStopLongerThanLagRemovesFailures
SMOKE_REAL := TestToBePassesThroughKubeProxy
check: lint unit-test build lab-node lab-traefik e2e-bin
	@labs=process=1; if { $(REAL_NODE_OK); }; then labs=$$labs,real=1; else $(REAL_NODE_SKIP); fi; \
	$(E2E_ENV) $(BIN)/e2e-runner -bin $(BIN)/e2e.test -durations /dev/null -labs $$labs \
		-run '^($(SMOKE_PROCESS)|$(SMOKE_REAL))$$' -real-run '^$(SMOKE_REAL)$$'

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd lab && $(GO) vet ./...

# On the real node where the machine allows it (root, containerd): see hack/demo.sh.
demo: build lab-node
	bash hack/demo.sh

# Every strategy example of scenarios/ on one lab, each report as printed.
demo-strategies: build lab
	bash hack/strategies.sh

# The seed's as-is and to-be through the ALB-like balancer in IP mode and in
# instance mode, on 3 real nodes: see hack/modes.sh.
demo-modes: build lab lab-node
	bash hack/modes.sh

# The seed pair at 4 and at 100 replicas (surge 25%) on the process lab
# (SCALE_NODE=real: on the real node; make lab-node first), each run's
# verdict, causes, peak RSS, CPU and report sizes side by side: see
# hack/scale.sh.
demo-scale: build lab
	bash hack/scale.sh

# Each fuzz target for a short bounded time; the seed corpus is committed
# in testdata/fuzz/<Name>/ and runs in every `go test` as plain tests.
.PHONY: fuzz
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./scenarios
	$(GO) test -run '^$$' -fuzz '^FuzzParseRate$$' -fuzztime $(FUZZTIME) ./attack
	$(GO) test -run '^$$' -fuzz '^FuzzParseHeader$$' -fuzztime $(FUZZTIME) ./attack
	$(GO) test -run '^$$' -fuzz '^FuzzParseTargetURL$$' -fuzztime $(FUZZTIME) ./attack
	$(GO) test -run '^$$' -fuzz '^FuzzStreamRoundTrip$$' -fuzztime $(FUZZTIME) ./attack
	$(GO) test -run '^$$' -fuzz '^FuzzStreamDecoder$$' -fuzztime $(FUZZTIME) ./attack

# The attack benchmarks that run real loads measure once whatever b.N is,
# so they run with -benchtime 1x: LoadFidelity about 2 minutes (20 s per
# rate and generator), PeakRSS about
# 5 minutes (ROLLCHECK_BENCH_DURATION, ROLLCHECK_BENCH_RSS_LONG/_SHORT
# shorten them; see docs/benchmarks.md).
LOAD_BENCHES := ^Benchmark(LoadFidelity|PeakRSS|AttackersSplit)$$
bench:
	$(GO) test -run '^$$' -bench . -benchmem -skip '$(LOAD_BENCHES)' ./...
	$(GO) test -run '^$$' -bench '$(LOAD_BENCHES)' -benchtime 1x -timeout 30m ./attack/

clean:
	rm -rf $(BIN) demo/lab

# `make install` puts rollcheck and kubectl-rollcheck (a symlink to it, so
# that `kubectl rollcheck ...` runs it as a plugin) in $(BINDIR): by default
# ~/.local/bin, which needs no root; `sudo make install PREFIX=/usr/local`
# for every user. DESTDIR stages the install for a package.
PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
# build-release is the binary install copies: the release build, in
# bin/release.
.PHONY: install uninstall build-release
build-release:
	CGO_ENABLED=0 $(GO) build $(RELEASE_GOFLAGS) -o $(BIN)/release/rollcheck ./cmd/rollcheck
	GO=$(GO) hack/check-release.sh $(VERSION) $(BIN)/release/rollcheck

install: build-release
	install -d "$(DESTDIR)$(BINDIR)"
	install -m 0755 $(BIN)/release/rollcheck "$(DESTDIR)$(BINDIR)/rollcheck"
	ln -sf rollcheck "$(DESTDIR)$(BINDIR)/kubectl-rollcheck"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/rollcheck" "$(DESTDIR)$(BINDIR)/kubectl-rollcheck"

# Release archives rollcheck_VERSION_OS_ARCH.tar.gz in bin/dist, and the
# krew manifest (plugins/krew/rollcheck.yaml) with their version and sha256
# filled in, in bin/dist/rollcheck.yaml. VERSION should be the release tag.
DIST := $(BIN)/dist
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
.PHONY: dist krew-manifest
dist:
	rm -rf $(DIST) && mkdir -p $(DIST)
	set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; dir=$(DIST)/rollcheck_$(VERSION)_$${os}_$${arch}; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(RELEASE_GOFLAGS) -o $$dir/rollcheck ./cmd/rollcheck; \
		GO=$(GO) hack/check-release.sh $(VERSION) $$dir/rollcheck; \
		tar -C $$dir -czf $$dir.tar.gz rollcheck; rm -rf $$dir; \
	done

krew-manifest: dist
	set -e; sed="/^#/d;s/VERSION/$(VERSION)/g"; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		sum=$$(sha256sum $(DIST)/rollcheck_$(VERSION)_$${os}_$${arch}.tar.gz | cut -d' ' -f1); \
		key=SHA256_$$(echo $${os}_$${arch} | tr a-z A-Z); sed="$$sed;s/$$key/$$sum/"; \
	done; sed "$$sed" plugins/krew/rollcheck.yaml > $(DIST)/rollcheck.yaml
