# chatkb: `make run` starts the page on the bundled corpus, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INDEX ?= index
CORPUS ?= corpus
PORT ?= 8501

.PHONY: setup run test test-fast build bench eval clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

build: setup
	$(BIN)/chatkb build $(CORPUS) --index $(INDEX)

run: build
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Debian's chromium for the end-to-end browser test (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null)

test: setup browser
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not e2e"

bench: setup
	$(BIN)/chatkb bench --out docs/benchmarks.json --docs docs

# Search quality: the test half of our queries, then the out-of-sample set (tests/eval/outofsample)
# in an index of the corpus plus its two documents, then the second and third ones (tests/eval/outofsample2, 3).
eval: build
	$(BIN)/chatkb eval tests/eval/queries.jsonl --index $(INDEX) --split test
	$(BIN)/chatkb build $(CORPUS) tests/eval/outofsample/docs --index index-outofsample
	$(BIN)/chatkb eval tests/eval/outofsample/queries.jsonl --index index-outofsample
	$(BIN)/chatkb build $(CORPUS) tests/eval/outofsample2/docs --index index-outofsample2
	$(BIN)/chatkb eval tests/eval/outofsample2/queries.jsonl --index index-outofsample2
	$(BIN)/chatkb build $(CORPUS) tests/eval/outofsample3/docs --index index-outofsample3
	$(BIN)/chatkb eval tests/eval/outofsample3/queries.jsonl --index index-outofsample3

clean:
	rm -rf $(VENV) $(INDEX) index-outofsample index-outofsample2 index-outofsample3
