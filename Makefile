# Two commands matter: `make run` (demo on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1:8000

.PHONY: run test test-pg lint format install bench screenshots clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime

# A local .env with fresh random secrets, made once from .env.example.
.env:
	$(PYTHON) -c 'import re, secrets; t = open(".env.example").read(); \
	t = re.sub(r"(?m)^SECRET_KEY=.*$$", "SECRET_KEY=" + secrets.token_urlsafe(40), t); \
	t = re.sub(r"(?m)^TRYON_INTERNAL_SECRET=.*$$", "TRYON_INTERNAL_SECRET=" + secrets.token_urlsafe(24), t); \
	open(".env", "w").write(t)'
	@echo "Wrote .env with fresh secrets."

run: $(VENV)/.runtime .env
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py seed_demo --base-url http://$(HOST)
	@echo ""
	@echo "Serving on http://$(HOST)  (admin: http://$(HOST)/admin/)"
	@echo "Demo storefront: http://$(HOST)/demo/  (try a product on; watch the credits go down)"
	@echo "Webhooks are delivered by a worker started beside the server (Ctrl-C stops both)."
	@$(BIN)/python manage.py deliver_webhooks & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver $(HOST)

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite against a local PostgreSQL (trust or password auth for user postgres).
test-pg: $(VENV)/.dev
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/genvoris} $(BIN)/python -m pytest $(PYTEST_ARGS)

# Refresh docs/screenshots/ from the browser tests (a plain `make test` leaves them alone).
screenshots: $(VENV)/.dev
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy genvoris stores quotas tryon

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.dev
	$(BIN)/python bench/track.py

clean:
	rm -rf $(VENV) var staticfiles
