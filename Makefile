# The two commands a newcomer needs: `make demo` and `make test`. Each installs what is missing.
SWIFT ?= swift
DEPS := tools/install-deps.sh

.PHONY: deps build release test demo bench clean

deps:
	@bash $(DEPS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: release
	rm -rf out/demo
	.build/release/sluice run pipelines/demo.yaml
	.build/release/sluice run pipelines/text-demo.yaml
	.build/release/sluice tokenize --tokenizer samples/text/bert-base-uncased-vocab.txt \
		--in samples/text/corpus.txt --format paragraphs --out out/text-demo/ids.jsonl --stats

bench: release
	.build/release/sluice-bench

clean:
	rm -rf .build out
