# The README's commands. `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DEMO_OUTPUT ?= demo-output
# pip, quiet, without this machine's notes about absent local index folders.
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
QUIET := 2>&1 | { grep -v "^WARNING: Location '" || true; }

.PHONY: setup models jvm-archive system-deps demo test lint format bench bench-real bench-scale bench-privacy bench-video bench-detector int8-model clean mutate screenshots batch-image batch-image-push

# The venv is rebuilt when a pin changes; pip only installs what is missing.
$(INSTALLED): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@scripts/check_env.sh "$(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip $(QUIET)
	$(PIP) -r requirements-dev.txt -c constraints.txt $(QUIET)
	$(PIP) --no-deps -e . $(QUIET)
	@touch $@

setup: $(INSTALLED) models jvm-archive

# The JVM's class data sharing archive for Spark, once per Java and Spark (sparkenv.py): each
# local session then starts 1-2 s sooner.
jvm-archive: $(INSTALLED)
	@$(PY) -m dataproc_faces.sparkenv 2>&1 | grep "dataproc-faces:" || true

models: $(INSTALLED)
	@if [ -f scripts/fetch_models.py ]; then $(PY) scripts/fetch_models.py; fi

# Debian packages the tests use (shellcheck, a headless browser); installed only when missing.
system-deps:
	@scripts/system_deps.sh

demo: setup
	$(PY) -m dataproc_faces run --input samples --output $(DEMO_OUTPUT)

# Test files run on TEST_WORKERS processes (pytest-xdist; each file stays in one process, so its
# module fixtures, e.g. the container image, are made once). TEST_WORKERS=0 runs them in one.
TEST_WORKERS ?= 2
test: setup system-deps
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# Mutation testing (not part of `make test`): see docs/testing.md. MUTANTS='dataproc_faces.detectors.base*'
# runs only the mutants whose names match.
mutate: setup
	scripts/mutate.sh $(MUTANTS)

# The README's pictures of the page (docs/images/web-*.png), taken by the browser test in Chromium.
screenshots: setup system-deps
	DATAPROC_FACES_SCREENSHOTS=docs/images $(PY) -m pytest -q tests/browser/test_web_browser.py

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) -m bench.run

# The lab's method against the job on real annotated photos scaled to 4-10 MP (bench/real.py);
# REAL_SET is an annotated set (images/ + truth.json), by default the team's WIDER FACE sample.
REAL_SET ?= ../shared/data/wider-dev
REAL_CORPUS := bench/corpus/real-$(notdir $(REAL_SET))
bench-real: setup
	$(PY) -m bench.real --from $(REAL_SET) --out $(REAL_CORPUS)
	$(PY) -m bench.run --corpus $(REAL_CORPUS) --methods lab,local2 --p4-count 0 \
		--profile 24 --repeat 1 --p3-goal 10 --p3-floor lab --results bench/results-real.json \
		--work bench/results/real
	$(PY) -m bench.codec --corpus $(REAL_CORPUS) --count 24 --out bench/results-codec.json

# What grows with the number of inputs (driver memory, time outside tasks) and a resume demo;
# then a flat bucket prefix listed by the driver against in slices (a modelled page time).
bench-scale: setup
	$(PY) -m bench.scale
	$(PY) -m bench.gcs_slices

# Privacy: a face recogniser (dlib, dev dependencies) tries to identify each anonymised face.
# DEFACE=/path/to/deface (deface 1.5.0 in a venv of its own) adds its row and wall time.
bench-privacy: setup
	$(PY) -m bench.privacy $(if $(DEFACE),--deface $(DEFACE))

# Videos: detection on every frame or on a stride (faces hidden per frame against detector cost),
# then frames per second on a generated 1080p clip, against deface (DEFACE=path to its CLI, own
# venv), local[1] vs local[2] on a 60 s clip, peak memory at 1 and 10 minutes (README "Videos").
bench-video: setup
	$(PY) -m bench.video_stride
	$(PY) -m bench.video_hd
	$(PY) -m bench.video_vs_deface

# Detection ms per megapixel and recall by network precision (this CPU, then an n2-like fp32 one:
# AVX-512 with VNNI, no bf16) and by tile plan; DATA holds wider-dev, masks-dev and faces-dev.
DATA ?= ../shared/data
bench-detector: setup
	$(PY) -m bench.detector --data $(DATA) --routes auto,int8,bf16,fp32 --repeat 3
	$(PY) -m bench.detector --routes auto,auto+full --min-sizes 48 64 --repeat 3
	$(PY) -m bench.detector --isa AVX512_CORE_VNNI --data $(DATA) --routes auto,int8,fp32 --repeat 3

# Rewrites the committed int8 RetinaFace network (needs NNCF: requirements-quantize.txt); then
# pin the printed hashes in spark/dataproc_faces/detectors/weights.py.
int8-model: setup
	$(PIP) -r requirements-quantize.txt -c constraints.txt $(QUIET)
	$(PY) scripts/quantize_retinaface.py

# Dataproc Serverless: the `batch` image (container/Dockerfile's batch target: the pins but
# pyspark, the package and the weights; run as uid 1099). batch-image-push pushes it to the
# stack's Artifact Registry repository under an immutable tag and prints the digest reference
# for `pulumi config set dataproc-faces:batch_image` (docs/deploy.md, Serverless batches).
BATCH_IMAGE ?= dataproc-faces-batch
BATCH_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
REGISTRY ?=
batch-image: models
	docker build --platform linux/amd64 -f container/Dockerfile --target batch -t $(BATCH_IMAGE):$(BATCH_TAG) .

# linux/amd64 whatever the machine; a tag already pushed is reused (scripts/push-batch-image.sh).
batch-image-push: models
	@test -n "$(REGISTRY)" || { echo "make: set REGISTRY=\$$(pulumi stack output image_repository)" >&2; exit 2; }
	scripts/push-batch-image.sh $(REGISTRY) $(BATCH_IMAGE)

clean:
	rm -rf $(VENV) $(DEMO_OUTPUT) test-artifacts .pytest_cache
