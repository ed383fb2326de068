# kmdiscourse: every target sets up .venv itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
KMD    := $(VENV)/bin/kmdiscourse
STAMP  := $(VENV)/.installed

.PHONY: demo test bench model fuzz clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kmdiscourse needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null  # notebooks run on this venv
	@touch $(STAMP)

demo: $(STAMP)
	@mkdir -p out
	$(KMD) --quiet ingest corpora/sample -o out/sample.kmd
	$(KMD) classify out/sample.kmd -o out/sample_labels.csv  # one row per passage in out/, summary on stderr
	@echo "Next: $(KMD) info out/sample.kmd; $(KMD) report out/sample.kmd -o out/report.html" >&2

# Rebuild the shipped classifier from corpora/labels/ (deterministic for SEED).
SEED ?= 0
model: $(STAMP)
	$(PY) -c 'from kmdiscourse.classify import build_default_model as b; print(b("corpora/labels", seed=$(SEED)))'

test: $(STAMP)
	$(PY) -m pytest -q

# Fuzz every reader with mutated real inputs (atheris when it installs, else hypothesis).
# FUZZ_SECONDS sets the duration (default 600); crash inputs are written to fuzz-artifacts/.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	-$(PY) -m pip install -q atheris || echo "atheris not available: fuzzing with hypothesis"
	mkdir -p fuzz-artifacts
	cd fuzz-artifacts && FUZZ_SECONDS=$(FUZZ_SECONDS) ../$(PY) ../tests/fuzz/fuzz_readers.py

# Issue 8 benchmarks: the pipeline at 10k and 100k passages (BENCH_LARGE=1 adds 1M), then the
# preprocessing and topic-model reference points; prints and appends to benchmarks/results.md.
bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
