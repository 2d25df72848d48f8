# The two commands of the README: `make demo` and `make test`. Both create/update .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGIN_DIRS  := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
EXAMPLE_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard examples/*/pyproject.toml))
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint dist bench clean docs-images

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS) $(EXAMPLE_DIRS)) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@# PYTHONWARNINGS: the build backend's notices (editable installs...) would bury the demo's output
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]' \
		$(foreach d,$(PLUGIN_DIRS) $(EXAMPLE_DIRS),-e '$(d)[test]')
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/python -m onecore.demo

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Wheel + sdist of onecore and of every plugins/*, in dist/. `python -m build` makes the sdist, then the
# wheel from the sdist (so a file missing from the sdist fails here, not on a user's machine).
dist: venv
	rm -rf dist && mkdir -p dist
	$(BIN)/python -m pip install -q --disable-pip-version-check build
	set -e; for d in . $(PLUGIN_DIRS); do $(BIN)/python -m build -q --outdir dist $$d; done
	@ls -1 dist

bench: venv
	$(BIN)/python benchmarks/run.py

# The README's pictures (docs/images/site.png, docs/images/raster.png); needs chromium (.ci/system-deps).
docs-images: venv
	$(BIN)/python docs/images/make_images.py

clean:
	rm -rf $(VENV) dist build *.egg-info
