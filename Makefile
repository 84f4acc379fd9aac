# The two commands a newcomer needs:  make demo  |  make test
# Both set everything up first (venv, Python and npm packages, Debian chromium for the browser tier).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# apt-get needs root; other users get sudo.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export TMPDIR := $(CURDIR)/tmp

.PHONY: setup demo test check test-unit test-js test-notebooks test-e2e js js-check bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

/usr/bin/chromium:
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium fonts-liberation

setup: $(VENV)/.installed node_modules/.installed /usr/bin/chromium
	@mkdir -p $(TMPDIR)

## The dashboard in JupyterLab, against the embedded local batch server (no API key needed).
## It opens copies in tmp/demo: Lab autosaves outputs, and the committed notebooks must stay clean.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
demo: setup
	@mkdir -p $(TMPDIR)/demo
	@for f in notebooks/*.ipynb; do [ -e "$(TMPDIR)/demo/$${f##*/}" ] || cp "$$f" $(TMPDIR)/demo/; done
	cd $(TMPDIR)/demo && $(abspath $(BIN))/jupyter lab $(ROOT_FLAG) 01_quickstart.ipynb

## Every tier: JS build check + JS unit, Python unit/server/widgets, notebooks (nbval), real browser.
test: setup js-check check test-js test-unit test-notebooks test-e2e

# Static checks: lint and format (ruff), types of the package (mypy), types of the JS (tsc --checkJs).
check:
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks notebooks
	$(BIN)/mypy
	npx --no-install tsc -p tsconfig.json
	npx --no-install tsc -p tsconfig.tests.json

test-unit:
	$(BIN)/python -m pytest -q tests --ignore=tests/e2e

test-js:
	npm test --silent

# The browser's copy of the API facts is generated from src/batch_widgets/facts.py, then bundled.
js:
	$(PYTHON) src/batch_widgets/facts.py js/lib/facts.js
	npm run build --silent

# The committed bundle and the generated facts module must be what the sources build to.
js-check: js
	@git diff --quiet -- src/batch_widgets/static js/lib/facts.js || \
	  (echo "src/batch_widgets/static/ or js/lib/facts.js is stale: run 'make js' and commit them"; \
	   git diff --stat -- src/batch_widgets/static js/lib/facts.js; exit 1)

# --nbval-lax: every cell must run without error; cells tagged nbval-check-output are compared exactly.
# (Live widgets, timestamps and batch ids differ per run, so strict comparison of every output would be noise.)
test-notebooks:
	$(BIN)/python -m pytest -q -p nbval --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks

test-e2e:
	$(BIN)/python -m pytest -q tests/e2e

# Re-shoot the README's screenshots (docs/screenshots/) with the browser tests.
screenshots: setup
	BW_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/e2e

bench: setup js
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules tmp test-artifacts
