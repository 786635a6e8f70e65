# LSMStore. Quick start: `make run` and `make test`.
GO      ?= go
BIN     := bin
ADDRESS ?= 127.0.0.1:9000
DATA    ?= ./data
FUZZTIME ?= 20s

.PHONY: all build run test vet unit race fuzz bench-go lsmbench bench bench-compare soak minio clean

all: build

build:
	$(GO) build -o $(BIN)/lsmd ./cmd/lsmd
	$(GO) build -o $(BIN)/lsmctl ./cmd/lsmctl

# Starts lsmd on $(ADDRESS) with data under $(DATA). Without credentials in
# the environment it uses MinIO's defaults (minioadmin/minioadmin) and warns.
run: build
	./$(BIN)/lsmd --address $(ADDRESS) $(DATA)

# Everything CI runs: vet; the engine and libraries under the race detector
# (-short: the randomized and space tests at reduced size); the same at full
# size without it; then every other package, the end-to-end tests against a
# real lsmd included.
test: vet race unit

vet:
	$(GO) vet ./...

LIBS := ./engine/... ./cache/... ./sigv4/...

race:
	$(GO) test -race -short -count=1 -timeout 10m $(LIBS)

unit:
	$(GO) test -count=1 -timeout 10m $(LIBS)
	$(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v -e /engine -e /cache -e /sigv4)

# Runs every fuzz target for $(FUZZTIME) each.
fuzz:
	@for pkg in ./engine ./sigv4 ./s3; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Go micro-benchmarks of the engine (Put, ranged Get cold and warm).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/ ./cache/

# Load tests against real servers (bench/README.md). `make bench` starts a
# fresh lsmd on a free 127.0.0.1 port with a temporary data directory, lays
# out a Milvus-shaped data set, runs the standard suite (a few minutes),
# prints the table, writes bench/results/DATE.json and stops lsmd.
# `make bench-compare` runs the same suite against lsmd and MinIO, alternating
# A B A B, and prints LSMStore ÷ MinIO ratios and bytes on disk. lsmbench
# starts and stops every server itself, also on Ctrl-C or failure.
BENCH_SIZE     ?= 512MiB
BENCH_DURATION ?= 4s
BENCH_ROUNDS   ?= 2
BENCH_OUT      ?= bench/results
BENCH_FLAGS    ?=
CACHE          ?= .cache
# MinIO RELEASE.2025-09-07T16-13-09Z as a module version; the newer
# RELEASE.2025-10-15T17-29-55Z (v0.0.0-20251015172955-9e49d5e7a648) is
# refused by the module proxy here (403), so it cannot be installed.
MINIO_RELEASE  ?= RELEASE.2025-09-07T16-13-09Z
MINIO_VERSION  ?= v0.0.0-20250907161309-07c3a429bfed
MINIO          ?= $(CACHE)/minio-$(MINIO_RELEASE)/minio

lsmbench:
	$(GO) build -o $(BIN)/lsmbench ./cmd/lsmbench

bench: build lsmbench
	./$(BIN)/lsmbench suite --lsmd $(BIN)/lsmd --data-size $(BENCH_SIZE) --duration $(BENCH_DURATION) --out $(BENCH_OUT) $(BENCH_FLAGS)

bench-compare: build lsmbench minio
	./$(BIN)/lsmbench compare --lsmd $(BIN)/lsmd --minio $(MINIO) --minio-version $(MINIO_RELEASE) \
	  --rounds $(BENCH_ROUNDS) --data-size $(BENCH_SIZE) --duration $(BENCH_DURATION) --out $(BENCH_OUT) $(BENCH_FLAGS)

# Soak test, not part of `make test`: a fresh lsmd under a steady, rate-bounded
# mix of the Milvus profiles with deletes and compaction for $(SOAK_DURATION),
# sampling its RSS, goroutines, open files and p99 every 10 s (a table as it
# goes, then bench/results/DATE-soak.{json,md}); fails, naming the metric, if
# one keeps growing after the warm-up (bench/soak.go, Growth).
SOAK_DURATION ?= 30m
SOAK_FLAGS    ?=

soak: build lsmbench
	./$(BIN)/lsmbench soak --lsmd $(BIN)/lsmd --duration $(SOAK_DURATION) --out $(BENCH_OUT) $(SOAK_FLAGS)

# Builds MinIO from source through the Go module proxy into $(CACHE), once.
minio: $(MINIO)
$(MINIO):
	GOBIN=$(abspath $(dir $(MINIO))) GOTOOLCHAIN=local $(GO) install github.com/minio/minio@$(MINIO_VERSION)

clean:
	rm -rf $(BIN)
