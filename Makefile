# Rapport: `make demo` runs the app on demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAPPORT_DATABASE_URL ?= sqlite:///./rapport.db

.PHONY: demo test install lint typecheck bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rapport db upgrade
	$(BIN)/rapport demo load --scale 1 --if-empty
	@echo ""
	@echo "  Rapport is starting on http://127.0.0.1:8000"
	@echo "  Sign in as demo@example.com / rapport-demo"
	@echo "  中文界面: demo-zh@example.com / rapport-demo"
	@echo ""
	$(BIN)/rapport serve --port 8000

chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-noto-cjk >/dev/null)) || echo "chromium could not be installed; browser tests will fail"
	@dpkg -s fonts-noto-cjk >/dev/null 2>&1 || apt-get install -y -q fonts-noto-cjk >/dev/null 2>&1 || true

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/rapport

bench: $(STAMP)
	$(BIN)/python bench/records.py

clean:
	rm -rf $(VENV) rapport.db rapport.db-wal rapport.db-shm .pytest_cache
