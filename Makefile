# The two commands of the README: `make book` and `make test`.
# Both create (or reuse) the virtual environment .venv and install what they need.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# On this project's machines pip takes these two from local wheels; elsewhere from PyPI.
# Override to use another build, e.g. `make test TORCH="torch torchvision"`.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.kdehist-installed


.PHONY: book test install notebooks benchmarks clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[book,test]"
	touch $(STAMP)

## Build the rendered book into _build/html from the committed notebook outputs.
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

## Run every test: style first (ruff), then package tests, nbval on every notebook (smoke
## profile), the book build.
test: $(STAMP)
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
