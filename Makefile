# jokemine: `make install`, then `make scrape clean publish [CONFIG=path] [DATA_DIR=path]`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY ?= $(VENV)/bin/python
CONFIG ?=
DATA_DIR ?=
JOKEMINE = $(PY) -m jokemine $(if $(CONFIG),--config $(CONFIG)) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

.PHONY: install browser scrape clean publish finetune refresh all status test bench bench-dedup bench-semantic bench-structure bench-finetune bench-scale lint format

install:  ## create .venv and install jokemine with its dev, finetune and dask extras (pinned by constraints.txt)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[dev,finetune,dask]'
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || $(MAKE) --no-print-directory browser

browser:  ## Debian's headless Chromium for the report.html browser test (apt; skipped with a note when apt is unavailable)
	@if command -v apt-get >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium: the report.html browser test will skip (CI fails it)"; \
	else echo "no apt-get: install Chromium yourself for the report.html browser test (it skips without it)"; fi

scrape:  ## read every enabled source into raw/
	$(JOKEMINE) scrape

clean:  ## raw/ -> clean/ (normalize, filter, dedup, language, splits)
	$(JOKEMINE) clean

publish:  ## clean/ -> releases/<version>/ (Hugging Face layout)
	$(JOKEMINE) publish

finetune:  ## baseline fine-tune of releases/latest (or RELEASE=dir) -> validation/metrics.json + card
	$(JOKEMINE) finetune $(if $(RELEASE),--release $(RELEASE)) $(FINETUNE_ARGS)

refresh:  ## the nightly job (README "Run it nightly"); exit 0 for no change or published, else refresh's code
	$(JOKEMINE) refresh; rc=$$?; if [ $$rc -eq 10 ]; then exit 0; else exit $$rc; fi

all: scrape clean publish

status:
	$(JOKEMINE) status

test:  ## the whole test suite
	$(PY) -m pytest -q --durations=25

bench:  ## speed and memory benchmarks on the real data -> bench/RESULTS.md
	$(PY) bench/pipeline.py $(if $(CONFIG),--config $(CONFIG))
	$(PY) bench/reddit_api.py
	$(PY) bench/anekdot.py
	$(PY) bench/table_read.py
	$(PY) -m pip install --quiet 'fastcdc==1.7.0'  # bench/refresh.py counts Xet-size chunks
	$(PY) bench/refresh.py
	$(PY) bench/scrape_checks.py

bench-structure:  ## joke structure vs pysbd, score_norm throughput, NSFW lists vs glin Filter -> bench/RESULTS.md
	$(PY) -m pip install --quiet 'pysbd==0.3.4'
	$(PY) bench/structure.py
	$(PY) bench/nsfw.py

bench-scale:  ## clean at 1M and 4M rows: local and dask executors vs the in-memory clean -> bench/RESULTS.md (~2.5 h)
	$(PY) bench/scale.py

bench-finetune:  ## baseline fine-tune: CPU smoke recipe x 3 seeds + no-packing peer, or one GPU epoch -> bench/RESULTS.md
	$(PY) bench/finetune.py $(if $(RELEASE),--release $(RELEASE))

bench-dedup:  ## near-duplicates vs datatrove and datasketch (installs jokemine[bench]) -> bench/RESULTS.md
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/dedup_vs_datatrove.py

bench-semantic:  ## near-duplicates: a WordLlama embedding check vs the lexical default on the labeled pairs (installs wordllama) -> bench/RESULTS.md
	$(PY) -m pip install --quiet 'wordllama==0.4.0.post1'
	$(PY) bench/near_dup_semantic.py $(if $(CLEAN),--clean $(CLEAN))

lint:  ## ruff (lint + format) and mypy (pydantic plugin; [tool.mypy] in pyproject.toml)
	$(PY) -m ruff check jokemine tests bench
	$(PY) -m ruff format --check jokemine tests bench
	$(PY) -m mypy

format:
	$(PY) -m ruff format jokemine tests bench
	$(PY) -m ruff check --fix jokemine tests bench
