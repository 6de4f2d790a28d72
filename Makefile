# podpilot: `make test` runs every test; `make demo` runs podpilot live against a local control plane.
GO       ?= go
# A count of runs, not a duration: Go 1.26's fuzz coordinator can fail a duration run with "context deadline
# exceeded" as the time runs out, with no failing input (go.dev/issue/75804, fixed in Go 1.27). 25000 runs take
# about 10 s per target on two cores.
FUZZTIME ?= 25000x
BIN      ?= bin/podpilot
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build test unit fuzz e2e bench bench-policies bench-tuning demo clean

all: build

# The one build of the binary: static, reproducible paths, version stamped. The Dockerfile runs this target.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/podpilot

# Every test: vet, the unit tests, a short run of each fuzz target, and the end-to-end tier on a real control
# plane and Prometheus (test/cluster/deps.sh installs and builds what it needs; .ci/run calls it).
test: unit fuzz e2e

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./policy
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluate$$' -fuzztime $(FUZZTIME) ./policy

e2e:
	test/cluster/build.sh >/dev/null
	$(GO) test -tags e2e -count=1 -timeout 40m ./test/e2e/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The decision-quality benchmark: every trace in testdata/traces through simulate's closed loop, hpa against
# podpilot's algorithms, with a sweep of each policy's target, and queue against KEDA's HPA (about four minutes on two
# cores). It also writes the schedule policies it derives to testdata/bench/schedules. See docs/benchmarks.md.
bench-policies:
	$(GO) run ./cmd/benchpolicies > docs/benchmarks.md.tmp && mv docs/benchmarks.md.tmp docs/benchmarks.md

# Would another setting of target-tracking's arguments meet goal 1? (docs/tuning.md, about 30 minutes)
bench-tuning:
	$(GO) run ./cmd/benchpolicies -tuning > docs/tuning.md.tmp && mv docs/tuning.md.tmp docs/tuning.md

# podpilot live on a local control plane with Prometheus and a synthetic burst; Ctrl-C (or DURATION=5m) stops it.
DURATION ?= 0
demo:
	@test/cluster/deps.sh
	@$(GO) test -tags demo -count=1 -run '^TestDemo$$' -v -timeout 0 ./test/demo -args -duration=$(DURATION) | grep -v -e '^=== RUN' -e '^--- PASS' -e '^PASS$$' -e '^ok '

clean:
	rm -rf bin
