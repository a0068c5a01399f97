# Set-up and entry points. `make demo` and `make test` each create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-stamp
OUT ?= out

.PHONY: install demo test bench clean

install: $(STAMP)

# torch==2.13.0 first: it resolves to the local CPU wheel (any other spec pulls CUDA builds).
$(STAMP): setup.py requirements-data.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet --no-deps -r requirements-data.txt
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/latentreenact sample --generator mobilestylegan-ffhq -n 16 --seed 0 --truncation 0.7 -o $(OUT)/grid.png

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_generator.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
