# samtal: the two commands a newcomer needs are `make run` and `make test`.
.PHONY: run build test test-go test-fuzz deps vet webclient

# The web client (converse.js from npm, see web/) is built into the binary;
# its step runs again only when web/package-lock.json changes.
run: webclient
	go run ./cmd/samtal

build: webclient
	go build -o bin/samtal ./cmd/samtal

webclient:
	./scripts/webclient.sh

# The whole test suite: installs the interop clients when they are
# missing, then runs vet, the Go tests (unit and black-box), and a short
# run of every fuzz target.
test:
	./scripts/test.sh

deps:
	./scripts/deps.sh

vet:
	go vet ./...
