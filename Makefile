# The two commands a newcomer needs: `make demo` and `make test`. Each installs what is missing.
SWIFT ?= swift
DEPS := tools/install-deps.sh

.PHONY: install check-tensorboard demo-pipelines shapes-3000 demo-capsules bench-capsules bench-spoken-moments demo-retromae demo-spoken-moments deps build release test test-mpi fuzz-smoke demo bench bench-media bench-readers bench-shards bench-tensor bench-encoders bench-retromae bench-spoken-moments-step bench-mpi clean

deps:
	@bash $(DEPS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# `sluice` on the PATH: the release build copied to $(PREFIX)/bin. ~/.local by default, since it
# needs no root and Debian's and Ubuntu's login shells put ~/.local/bin on the PATH once it
# exists; `make install PREFIX=/usr/local` (as root) for every user. Examples that name samples/
# or pipelines/ still run from the clone's top directory.
PREFIX ?= $(HOME)/.local
install: release
	install -D -m 755 .build/release/sluice $(DESTDIR)$(PREFIX)/bin/sluice
	@echo "installed $(DESTDIR)$(PREFIX)/bin/sluice"

# Every step runs even when one fails; the last line names the failed ones (tools/test.sh).
test: deps
	@bash $(DEPS) qemu-user
	@bash tools/install-s3-server.sh
	@FUZZ_SECONDS="$(FUZZ_SECONDS)" tools/test.sh

# libFuzzer over every parser of untrusted files for a few seconds each (its own ASan build in
# .build-fuzz); `make test FUZZ_SECONDS=5` runs it too, tools/fuzz.sh TARGET SECONDS runs one longer.
fuzz-smoke: deps
	tools/fuzz.sh --smoke 5

# Only the multi-rank tests (mpiexec -n 2 and 3 of sluice and of Tests/MPIRanksCheck); `make test` runs them too.
test-mpi: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter 'MPIRanksTests|ReplicaTests'

# The demo uses the debug build `make test` also makes, so a newcomer compiles once: the pipelines
# below on samples/, then a short run of each trainer (prerequisites, so `make -o build demo`
# skips the build throughout, as tools/readme-check.sh does).
demo: demo-pipelines demo-retromae demo-spoken-moments demo-capsules

# Checksums of every sample file, the media stages over the sample clips, the text stages over
# the sample corpus, and `sluice tokenize` over it.
demo-pipelines: build
	rm -rf out/demo out/shapes out/text-demo
	.build/debug/sluice run pipelines/demo.yaml
	.build/debug/sluice run pipelines/shapes.yaml
	.build/debug/sluice run pipelines/text-demo.yaml
	.build/debug/sluice tokenize --tokenizer samples/text/bert-base-uncased-vocab.txt \
		--in samples/text/corpus.txt --format paragraphs --out out/text-demo/ids.jsonl --stats

# A short RetroMAE stage 1 on the sample corpus (debug build: a small model, 1-2 minutes),
# printing MLM/decoder accuracy, the shuffled-embedding check, and held-out retrieval with [CLS]
# and mean pooling and their anisotropy; step 0 is the random-init figure (BENCHMARKS.md, "What
# pre-training learns": a minute of pre-training does not beat it).
demo-retromae: build
	rm -rf out/retromae-demo
	.build/debug/sluice retromae train --in samples/retromae/corpus.txt.gz --format paragraphs \
		--vocab samples/retromae/vocab.txt --heldout samples/retromae/heldout.tsv --out out/retromae-demo \
		--hidden 64 --layers 2 --heads 4 --intermediate 256 --max-length 64 --batch-size 16 \
		--steps 60 --log-every 10 --eval-every 1000

# A short Spoken Moments run (debug build, about a minute) on 200 generated clips, 50 of them held
# out: held-out video<->caption R@1/5/10, median rank and mAP every 20 updates beside chance, and at
# the end mean R@10 by update, rising from chance.
demo-spoken-moments: build data/shapes-200/manifest.jsonl
	rm -rf out/spoken-moments-demo
	.build/debug/sluice spoken-moments train --manifest data/shapes-200/manifest.jsonl --out out/spoken-moments-demo \
		--steps 80 --log-every 20 --eval-every 20

# The same for the capsule network: held-out text->video, video->text and audio->video.
demo-capsules: build data/shapes-200/manifest.jsonl
	rm -rf out/capsules-demo
	.build/debug/sluice capsules train --manifest data/shapes-200/manifest.jsonl --out out/capsules-demo \
		--steps 80 --log-every 20 --eval-every 20

# TensorBoard's own reader over the event files of the RetroMAE demo (tools/tensorboard_events.py
# check), from a venv with tensorboard from PyPI at the version that wrote the committed fixture.
# Needs the network the first time, so `make test` leaves it out.
TENSORBOARD_VENV ?= /tmp/venv-tensorboard
TENSORBOARD_VERSION := 2.21.0
check-tensorboard: demo-retromae
	@$(TENSORBOARD_VENV)/bin/pip show tensorboard 2>/dev/null | grep -qx 'Version: $(TENSORBOARD_VERSION)' || \
		{ python3 -m venv $(TENSORBOARD_VENV) && \
		  $(TENSORBOARD_VENV)/bin/pip install --quiet --disable-pip-version-check tensorboard==$(TENSORBOARD_VERSION); }
	$(TENSORBOARD_VENV)/bin/python tools/tensorboard_events.py check out/retromae-demo

# N moving-shapes clips, a quarter held out (tools/make-samples.py: ffmpeg, espeak-ng and sox, all
# cores), made once into data/shapes-N (git-ignored): data/shapes-200 for the demo's trainers (about
# a minute), data/shapes-3000 for the Spoken Moments figures (`make shapes-3000`, about half an hour).
data/shapes-%/manifest.jsonl:
	@bash $(DEPS) ffmpeg espeak-ng sox
	rm -rf data/shapes-$*.partial
	python3 tools/make-samples.py --count $* --broken '' --out data/shapes-$*.partial
	mv -T data/shapes-$*.partial data/shapes-$*

shapes-3000: data/shapes-3000/manifest.jsonl

bench: release
	.build/release/sluice-bench

# Media against the ffmpeg CLI and librosa (VENV: a virtualenv with librosa; see tools/bench-media.sh).
bench-media: deps
	@bash $(DEPS) ffmpeg espeak-ng sox bc time
	bash tools/bench-media.sh

# Clip sampling (8 uniform frames, 16 in a row, 1 fps) against PyAV and decord on 30 real clips
# (see tools/bench-readers.sh; TORCHCODEC=1 adds torchcodec).
bench-readers: deps
	@bash $(DEPS) ffmpeg
	bash tools/bench-readers.sh

# Shards against dd and Python's mosaicml-streaming (needs PY=python-with-mosaicml-streaming).
bench-shards: release
	tools/bench-shards.sh

# Tensor engine against raw sgemm and PyTorch (Debian's python3-torch), one run, release build.
bench-tensor: deps
	@bash $(DEPS) python3-torch
	tools/bench-tensor.sh

# Encoders (ResDAVEnet, ResNet-18, the frame CNN) against PyTorch 1.13 + torchvision, release build.
bench-encoders: deps
	@bash $(DEPS) python3-torch python3-torchvision
	tools/bench-encoders.sh

# RetroMAE training step against the same model in PyTorch (venv: see tools/retromae_fixtures.py), release build.
# Routing time against capsule counts, and the training step against PyTorch 1.13, release build.
bench-capsules: deps
	@bash $(DEPS) python3-torch
	tools/bench-capsules.sh

bench-retromae: deps
	tools/bench-retromae.sh

# One Spoken Moments training update against the same model in PyTorch 1.13, release build.
bench-spoken-moments-step: deps
	@bash $(DEPS) python3-torch
	tools/bench-spoken-moments-step.sh

# Allreduce bandwidth of the MPIRanks layer against a plain C MPI_Allreduce loop, 2 ranks, release build.
bench-mpi: deps
	$(SWIFT) build -c release --product mpi-bench
	tools/bench-mpi.sh

# Spoken Moments data path (release): prepare clips/s against ffmpeg CLI + librosa, data wait from shards and on the fly.
bench-spoken-moments: shapes-3000
	bash $(DEPS) bc
	tools/bench-spoken-moments.sh

clean:
	rm -rf .build out
