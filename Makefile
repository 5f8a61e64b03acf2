# Hearth: `make run` sets everything up on a fresh machine and starts the platform; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run setup install test lint format bench load chaos check messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Local runs use DEBUG and the embedded defaults unless DATABASE_URL / REDIS_URL say otherwise.
run setup: export DEBUG ?= true

setup: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py ensure_operator

run: setup
	@echo "Starting web, Celery worker and beat at http://$(HOST):$(PORT)/ (Ctrl-C stops all three)"
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A community worker --loglevel=INFO --concurrency=2 & \
	$(BIN)/celery -A community beat --loglevel=INFO & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

# Load: 30 simulated members for 60 s against gunicorn + a Celery worker on a scratch database (bench/load.py).
# Separate from `make bench` because it takes over a minute; `LOAD_ARGS="--users 5 --duration 10"` for a quick run.
load: install
	$(BIN)/python -m bench.load $(LOAD_ARGS)

# Worker failure: SIGKILL a Celery worker in the middle of a task; it must complete exactly once after restart.
chaos: install
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# Deploy and code checks (also run by .ci/run): bandit over the apps, and Django's deploy check with production
# settings. Findings accepted after review are in .ci/bandit-baseline.json; anything new fails.
BANDIT_PATHS := community members feedback rewards analytics engage integrations
check: install
	$(BIN)/bandit -ll -ii -q -r $(BANDIT_PATHS) $(if $(wildcard .ci/bandit-baseline.json),-b .ci/bandit-baseline.json)
	DJANGO_SETTINGS_MODULE=community.settings.production ALLOWED_HOSTS=community.example.com \
	  SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))') \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

# One catalogue. Translations may also be written as partial catalogues in locale/zh_Hans/partials/*.po (one per
# area, msgid/msgstr pairs): they are merged in, filling entries the main catalogue has not translated yet; where
# two partials translate one msgid differently, core.po (the shared words) wins.
# flock keeps two runs from rewriting the catalogue at the same time.
PO := locale/zh_Hans/LC_MESSAGES/django.po
messages: install
	@mkdir -p var
	flock var/messages.lock sh -c '\
	  DEBUG=true $(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete --no-location --ignore=.venv --ignore=var --ignore=tests --ignore=bench && \
	  if ls locale/zh_Hans/partials/*.po >/dev/null 2>&1; then \
	    msgcat --use-first -o var/messages-all.po $$(ls locale/zh_Hans/partials/core.po 2>/dev/null) $$(ls locale/zh_Hans/partials/*.po | grep -v /core.po) $(PO) && \
	    msgmerge --quiet --no-fuzzy-matching --no-wrap -o $(PO) var/messages-all.po $(PO); \
	  fi && \
	  DEBUG=true $(BIN)/python manage.py compilemessages --ignore=.venv --ignore=var'

clean:
	rm -rf $(VENV) var
