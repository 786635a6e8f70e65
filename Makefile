# LSMStore. Quick start: `make run` and `make test`.
GO      ?= go
BIN     := bin
ADDRESS ?= 127.0.0.1:9000
DATA    ?= ./data
FUZZTIME ?= 20s

.PHONY: all build run test vet unit race fuzz bench-go clean

all: build

build:
	$(GO) build -o $(BIN)/lsmd ./cmd/lsmd

# Starts lsmd on $(ADDRESS) with data under $(DATA). Without credentials in
# the environment it uses MinIO's defaults (minioadmin/minioadmin) and warns.
run: build
	./$(BIN)/lsmd --address $(ADDRESS) $(DATA)

# Everything CI runs: vet, the race-enabled unit tests of the engine and the
# libraries, then the remaining packages.
test: vet race unit

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 -timeout 10m ./engine/... ./cache/... ./sigv4/...

unit:
	$(GO) test -count=1 -timeout 10m $$($(GO) list ./... | grep -v -e /engine -e /cache -e /sigv4)

# Runs every fuzz target for $(FUZZTIME) each.
fuzz:
	@for pkg in ./engine ./sigv4; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Go micro-benchmarks of the engine (Put, ranged Get cold and warm).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/ ./cache/

clean:
	rm -rf $(BIN)
