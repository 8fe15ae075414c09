# Thin targets; the real work is in the Go code and its tests.
GO         ?= go
BIN        ?= bin/loyalty
# The demo picks a free NATS port so that it runs beside any NATS already on
# 4222; other tools find it through the data directory.
NATS_PORT  ?= 0
DEMO_FLAGS ?= --demo-members 1000 --demo-days 180

.PHONY: run build promtool node-tools test test-short chaos chaos-cluster bench bench-cluster fuzz lint vet compose-up compose-down clean

run: build
	$(BIN) serve --nats-port $(NATS_PORT) --demo $(DEMO_FLAGS)

# The first build downloads the modules and compiles everything: about 3
# minutes on 2 CPUs, silent but for this line; later builds take seconds.
build:
	@test -x $(BIN) || echo "building $(BIN): the first build takes a few minutes (modules, then compiling)"
	$(GO) build -o $(BIN) ./cmd/loyalty

# promtool checks the alert rules and lints a live /metrics scrape in the
# tests. Taken from PATH (Debian: apt-get install prometheus), else built once
# into bin/ with Go (a few minutes the first time).
PROMTOOL_VERSION ?= v0.316.0
export PATH := $(CURDIR)/bin:$(PATH)

promtool:
	@command -v promtool >/dev/null || { echo "building promtool $(PROMTOOL_VERSION) into bin/ (once)"; \
	  GOBIN=$(CURDIR)/bin $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION); }

# The contract checks verify webhook signatures with the npm standardwebhooks
# package and parse docs/asyncapi.yaml with @asyncapi/parser: installed once
# into .ci/node when npm is there (CI fails without them; elsewhere those
# tests are skipped, saying so).
node-tools:
	@if command -v npm >/dev/null; then test -d .ci/node/node_modules || \
	  npm ci --prefix .ci/node --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the webhook signature and AsyncAPI checks are skipped (install Node.js to run them)"; fi

test: promtool node-tools
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

# The fault test: 200,000 events through the real binaries while the engine
# is killed, NATS restarted and PostgreSQL stopped (cmd/loyalty/chaos_test.go).
chaos:
	$(GO) test -tags chaos -run '^TestChaos$$' -count=1 -v -timeout 15m ./cmd/loyalty

# The cluster fault test: 100,000 events through three NATS servers (R3
# streams) and three engines, while an engine is killed, another restarted
# and the input stream's leader killed (cmd/loyalty/chaos_cluster_test.go).
chaos-cluster:
	$(GO) test -tags chaos -run '^TestChaosCluster$$' -count=1 -v -timeout 15m ./cmd/loyalty

test-short:
	$(GO) test -short -count=1 ./...

# The pipeline benchmarks run once each (a run is 200,000 events); the
# others as long as Go's default wants, for steady figures.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./cmd/...
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./domain/... ./streams/... ./projections/...
	$(GO) test -run '^$$' -bench VoucherRedemptions -benchtime 3x -timeout 30m ./handlers

# The cluster benchmarks alone: throughput and latency on three NATS servers
# with one and two engines, failover time, a rolling restart.
bench-cluster:
	$(GO) test -run '^$$' -bench 'Cluster' -benchtime 1x -timeout 30m ./cmd/loyalty

# FuzzAdmittedEventsProject writes what it admits to the PostgreSQL of
# projections/pgtest (LOYALTY_TEST_DATABASE_URL).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeEvent -fuzztime 60s ./streams
	$(GO) test -run '^$$' -fuzz FuzzAdmittedEventsProject -fuzztime 60s ./projections
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./programs
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 60s ./streams/csvimport

vet:
	$(GO) vet ./...

# The layers' boundaries (domain/boundaries_test.go) run with the tests too.
lint: vet
	@echo "gofmt: every file formatted"
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	@echo "layer boundaries (domain/boundaries_test.go): imports between layers, no I/O, clock or chance in the domain"
	$(GO) test -count=1 -run 'TestPackageEdges|TestDomainDoesNoIO|TestDomainReadsNoClock' ./domain

compose-up:
	docker compose up --build -d

compose-down:
	docker compose down

clean:
	rm -rf bin .loyalty
