# The front door. `make run` starts the appliance on this host on its embedded
# defaults; `make test` installs everything the tests need and runs them all.
PYTHON  ?= python3
VENV    ?= .venv
DATA    ?= ./var
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed
SYSSTAMP = .cache/system-deps.stamp
JOBS    ?= auto

.PHONY: run test unit integration venv system-deps bench clean image

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

$(SYSSTAMP): scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	mkdir -p .cache && touch $(SYSSTAMP)

system-deps: $(SYSSTAMP)

run: $(STAMP)
	$(BIN)/python -m appliance run --data $(DATA)

test: $(STAMP) $(SYSSTAMP)
	$(BIN)/python -m pytest -n $(JOBS) -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP) $(SYSSTAMP)
	$(BIN)/python -m pytest -n $(JOBS) -q tests/integration

bench: $(STAMP) $(SYSSTAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .cache .pytest_cache
