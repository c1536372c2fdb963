# Every target sets up .venv idempotently first: torch pinned exactly (a CPU wheel on
# these machines; a looser spec would pull multi-GB CUDA builds), then the package.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pocketgpt-installed

.PHONY: setup browser test test-all speedrun clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The web-UI tests drive Debian's Chromium; installed here when missing (quiet when present).
browser:
	@sh tools/ensure-browser.sh

test: setup browser
	$(PY) -m pytest -q -m "not slow"

test-all: setup browser
	$(PY) -m pytest -q

speedrun: setup
	@if $(PY) -c "import importlib.util as u, sys; sys.exit(u.find_spec('pocketgpt.speedrun') is None)"; then \
		$(VENV)/bin/pocketgpt speedrun; \
	else \
		echo "pocketgpt speedrun: not built yet (the speedrun issue delivers it)"; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
