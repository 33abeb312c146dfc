# OVM developer commands. `make test` is what CI runs (.ci/run).
GO ?= go

.PHONY: test deps vet run build bench fuzz image

## test: install what the tests need, then vet and run every test (race detector on).
test: deps vet
	CI=$${CI:-} $(GO) test -race -count=1 -timeout 20m ./...

## deps: install the test dependencies that are missing (idempotent).
deps:
	./scripts/install-deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

## run: the embedded default (SQLite in ./ovm-data, simulated AWS).
run:
	$(GO) run ./cmd/ovm serve

build:
	$(GO) build -o bin/ovm ./cmd/ovm

## image: the container image on scratch (podman; docs/deploy.md). IMAGE=ovm:dev, VERSION=dev.
IMAGE ?= ovm:dev
image:
	VERSION=$${VERSION:-dev} ./deploy/container/build.sh $(IMAGE)

## bench: the performance figures of the issues (vend latency, guarded vend on moto, tick, credentials, refill, demand, scale, spend).
bench:
	$(GO) test -run '^$$' -bench 'Vend|Notify|Outbox|Spend' -benchtime 1x -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench Tick -benchtime 200x ./engine/
	$(GO) test -run '^$$' -bench Credentials -benchtime 200x ./provider/awsorgs/
	$(GO) test -run '^$$' -bench 'Refill|Demand|Scale' -benchtime 1x -timeout 60m ./bench/

## fuzz: a short run of every fuzz target.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzTransitionTable -fuzztime 20s .
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 20s ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzDecodeCursor -fuzztime 20s .
	$(GO) test -run '^$$' -fuzz FuzzCheckDestination -fuzztime 20s ./federation/
