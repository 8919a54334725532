# The two commands a newcomer needs: `make demo` and `make test`. Each installs what is missing.
SWIFT ?= swift
DEPS := tools/install-deps.sh

.PHONY: deps build release test demo bench bench-shards clean

deps:
	@bash $(DEPS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The demo uses the debug build `make test` also makes, so a newcomer compiles once.
demo: build
	rm -rf out/demo out/text-demo
	.build/debug/sluice run pipelines/demo.yaml
	.build/debug/sluice run pipelines/text-demo.yaml
	.build/debug/sluice tokenize --tokenizer samples/text/bert-base-uncased-vocab.txt \
		--in samples/text/corpus.txt --format paragraphs --out out/text-demo/ids.jsonl --stats

bench: release
	.build/release/sluice-bench

# Shards against dd and Python's mosaicml-streaming (needs PY=python-with-mosaicml-streaming).
bench-shards: release
	tools/shards-bench.sh

clean:
	rm -rf .build out
