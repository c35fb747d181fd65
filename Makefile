# make demo / make test on a fresh machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEFAULT_CORPUS := corpora/tiny-shakespeare.txt
CORPUS ?= $(DEFAULT_CORPUS)
SHARED_CORPUS := ../shared/corpora/tiny-shakespeare.txt
CORPUS_URL := https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt

.PHONY: install test fuzz demo bench bench-torch bench-quality bench-products bench-bf16-quality bench-zero-state bench-export bench-serve bench-soak bench-finetune bench-inspect clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

test: install
	$(BIN)/python -m pytest -q

# Schemathesis against a real `charrnn serve` from its /openapi.json, with a large budget (make test runs 50
# examples per operation; docs/robustness.md): a few minutes.
FUZZ_EXAMPLES ?= 1000
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q tests/test_serve_fuzz.py

# The corpus: CORPUS, else the machine's shared copy, else a download, else Python's own source.
demo: install
	@corpus="$(CORPUS)"; extra=""; \
	if [ ! -f "$$corpus" ] && [ "$$corpus" = "$(DEFAULT_CORPUS)" ] && [ -f "$(SHARED_CORPUS)" ]; then corpus="$(SHARED_CORPUS)"; fi; \
	if [ ! -f "$$corpus" ]; then \
	  if $(BIN)/python -c "import sys, urllib.request; open(sys.argv[2], 'wb').write(urllib.request.urlopen(sys.argv[1], timeout=20).read())" \
	       "$(CORPUS_URL)" "$$corpus.part" 2>/dev/null; then mv "$$corpus.part" "$$corpus"; \
	  else rm -f "$$corpus.part"; \
	    echo "No network to download tiny-shakespeare: the demo trains on Python's own source instead (make demo CORPUS=path uses your text)." >&2; \
	    corpus="$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')/*.py"; extra="--encoding-errors replace"; \
	  fi; \
	fi; \
	$(BIN)/charrnn train "$$corpus" $$extra --config demo --run-dir checkpoints/demo --overwrite && \
	$(BIN)/charrnn eval --checkpoint checkpoints/demo && \
	$(BIN)/charrnn sample --checkpoint checkpoints/demo --seed T --n 400 --temperature 0.8 --random-seed 1 && echo

bench: install
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

bench-torch: install
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/python benchmarks/bench.py --torch $(BENCH_ARGS)

# Validation reached in 1, 3 and 8 minutes: charrnn --time, the PyTorch LSTM reference and a nanoGPT-style
# transformer (about 50 minutes).
bench-quality: install
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/python benchmarks/quality.py $(BENCH_ARGS)

# One product's GF/s on each path of charrnn/products.py (OpenBLAS, MKL, bf16) and thread layout, with MKL's
# dispatch on this CPU (a minute or two; installs the mkl extra, about 220 MB). make bench BENCH_ARGS="--products
# mkl" times whole training steps on one path.
bench-products: install
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[mkl,test]'
	$(BIN)/python benchmarks/products.py $(BENCH_ARGS)

# bfloat16 products against float32 in quality: a 2x256 LSTM, 3,000 steps each (some 12 minutes idle).
bench-bf16-quality: install
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[mkl,test]'
	$(BIN)/python benchmarks/bf16_quality.py $(BENCH_ARGS)

# Whether a trained model works from a zero state: per-stream validation at every evaluation,
# for the weight average and the raw weights (docs/zero-state.md; 30 minutes by default).
ZERO_STATE_CORPUS ?= ../shared/corpora/warpeace.txt
ZERO_STATE_TIME ?= 30m
bench-zero-state: install
	$(BIN)/python benchmarks/zero_state.py $(ZERO_STATE_CORPUS) --time $(ZERO_STATE_TIME) $(BENCH_ARGS)

# Sampling speed of the exports (docs/export.md): charrnn, onnxruntime and Node at batch 1, a few minutes.
bench-export: install
	$(BIN)/python benchmarks/export_speed.py $(BENCH_ARGS)

# Many streaming clients against one `charrnn serve` over loopback (docs/serving.md; about 2 minutes).
bench-serve: install
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[serve,test]'
	$(BIN)/python benchmarks/serve_load.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/serve_step.py
	$(BIN)/python benchmarks/serve_long_prompt.py

# Ten minutes of churn against one `charrnn serve`: 64 clients joining and leaving, streams cut, bad requests;
# memory and failures each minute (docs/serving.md). BENCH_ARGS="--minutes 1 --interval 15" for a short run.
bench-soak: install
	$(BIN)/python benchmarks/soak.py $(BENCH_ARGS)

# Fine-tuning a 2x256 tiny-shakespeare model on 200 KB of War and Peace against training from
# scratch, at equal steps, one thread (docs/finetune.md; about 30 minutes).
bench-finetune: install
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/finetune.py $(BENCH_ARGS)

# charrnn inspect (docs/inspect.md): score against eval in speed and memory (a 100 MB file, each run stopped once
# its peak memory settles), the HTML report's size and load time; some 10 to 20 minutes.
bench-inspect: install
	$(BIN)/python benchmarks/inspect_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache checkpoints/demo checkpoints/cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
