# Set-up and entry points. `make demo` and `make test` each create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-stamp
OUT ?= out

.PHONY: install judge-env demo serve test cuda-check bench clean

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
# (the default inversion recipe, 'released' tuning, first, so that the face is the source person; about 1 min on 2 CPU cores).
EXAMPLES := latentreenact/examples
demo: $(STAMP)
	$(VENV)/bin/latentreenact reenact --source $(EXAMPLES)/astronaut.jpg --driving $(EXAMPLES)/smile.mp4 \
		--side-by-side --seed 0 -o $(OUT)/reenacted.mp4

# The Gradio app on http://127.0.0.1:7860 (Ctrl+C stops it).
serve: $(STAMP)
	$(VENV)/bin/latentreenact demo

# The independent judge's helper environment (latentreenact/judge): MediaPipe 0.10.21, the last release whose
# wheel ships its face models, needs numpy<2, so it lives in its own venv, driven over a pipe. Only the
# modules the face mesh imports are installed (no jax, sentencepiece or sounddevice); about 15-60 s.
JUDGE_VENV ?= .venv-judge
JUDGE_STAMP := $(JUDGE_VENV)/.installed-stamp
judge-env: $(JUDGE_STAMP)

$(JUDGE_STAMP):
	$(PYTHON) -m venv $(JUDGE_VENV)
	$(JUDGE_VENV)/bin/python -m pip install --quiet --no-deps mediapipe==0.10.21
	$(JUDGE_VENV)/bin/python -m pip install --quiet --no-warn-conflicts numpy==1.26.4 protobuf==4.25.9 absl-py attrs flatbuffers \
		opencv-python-headless==4.11.0.86 matplotlib
	$(JUDGE_VENV)/bin/python -c "import mediapipe as mp; mp.solutions.face_mesh.FaceMesh(static_image_mode=True).close()"
	touch $(JUDGE_STAMP)

# LATENTREENACT_REQUIRE_JUDGE=1: the judge's tests fail instead of skipping when .venv-judge is missing.
test: $(STAMP) $(JUDGE_STAMP)
	LATENTREENACT_REQUIRE_JUDGE=1 $(PY) -m pytest -q

# Compile-only check of the CUDA plugins (nvcc from NVIDIA's PyPI wheels, cached; no GPU needed; about 2 min).
cuda-check: $(STAMP)
	$(PY) -m stylegan2_ops.compile_check

bench: $(STAMP)
	$(PY) benchmarks/bench_generator.py

clean:
	rm -rf $(VENV) $(JUDGE_VENV) $(OUT) .pytest_cache
