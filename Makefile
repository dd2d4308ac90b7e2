# Honbu: `make run` serves the demo city, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
STAFF ?=

.PHONY: run test install lint bench messages clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo $(if $(STAFF),--staff $(STAFF),)
	$(PY) manage.py vapid_keys
	HONBU_HOST=$(HOST) HONBU_PORT=$(PORT) $(PY) -m config.run

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) bench/search.py
	$(PY) bench/import_roster.py
	$(PY) bench/escalation.py
	$(PY) bench/safety.py

messages: install
	$(PY) manage.py makemessages -l ja -l en --ignore=.venv --ignore=var
	$(PY) manage.py makemessages -d djangojs -l ja -l en --ignore=.venv --ignore=var
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var
