# podpilot: `make test` runs every test; `make demo` runs podpilot live against a local control plane.
GO       ?= go
FUZZTIME ?= 10s
BIN      ?= bin/podpilot

.PHONY: all build test unit fuzz bench demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/podpilot

# Every test: vet, the unit tests, and a short run of each fuzz target.
test: unit fuzz

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./policy
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluate$$' -fuzztime $(FUZZTIME) ./policy

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	@echo "make demo: not built yet (the local control-plane harness is issue 5)" >&2; exit 2

clean:
	rm -rf bin
