# The front door. `make run` starts the appliance on this host on its embedded
# defaults; `make test` installs everything the tests need and runs them all.
PYTHON  ?= python3
VENV    ?= .venv
DATA    ?= ./var
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed
SYSSTAMP = .cache/system-deps.stamp
JOBS    ?= auto
# `make run`: the web UI (HTTPS, plain HTTP redirecting to it) beside pbxd, stopped when pbxd exits.
WEB_PORT      ?= 8443
WEB_HTTP_PORT ?= 8080

.PHONY: run test unit integration venv system-deps bench clean image prompts webassets

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

run: $(STAMP) prompts webassets
	$(BIN)/python -m appliance init --data $(DATA)
	@$(BIN)/python -m appliance web --data $(DATA) --https-port $(WEB_PORT) --http-port $(WEB_HTTP_PORT) & web=$$!; \
	trap 'kill $$web 2>/dev/null; wait $$web 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	sleep 1; $(BIN)/python -m appliance run --data $(DATA)

test: $(STAMP) $(SYSSTAMP) prompts webassets
	$(BIN)/python -m pytest -n $(JOBS) -q

# Voice prompts rendered with espeak-ng into appliance/prompts/rendered (incremental: only
# changed texts are rendered again; a no-op run takes a fraction of a second).
prompts: $(STAMP) $(SYSSTAMP)
	$(BIN)/python -m appliance.prompts build --quiet

# The web UI's third-party JavaScript (JsSIP for the browser phone) comes from npm at build time, pinned by
# webassets/package-lock.json, bundled by esbuild into appliance/webui/static/vendor/ (not in git; the dial
# page says so when it is missing). Rebuilt only when the lock file or the entry point changes.
WEBASSETS = appliance/webui/static/vendor/jssip.min.js

webassets: $(WEBASSETS)

$(WEBASSETS): webassets/package.json webassets/package-lock.json webassets/jssip-entry.js
	@command -v npm >/dev/null 2>&1 || { echo "make webassets: npm is not installed (scripts/install-system-deps.sh)" >&2; exit 1; }
	cd webassets && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	@touch $@

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP) $(SYSSTAMP) prompts webassets
	$(BIN)/python -m pytest -n $(JOBS) -q tests/integration

bench: $(STAMP) $(SYSSTAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .cache .pytest_cache

# Firmware image through Buildroot (needs a Buildroot 2026.05.x tree and the
# network): make image BUILDROOT=/path/to/buildroot [BOARD=raspberrypi4_64|qemu_aarch64_virt]
# Output in output/$(BOARD)/images. Our BUILDROOT/BOARD must not leak into
# Buildroot's own make, hence the cleared MAKEFLAGS.
BOARD   ?= raspberrypi4_64
BR_OUT   = $(CURDIR)/output/$(BOARD)
BR_MAKE  = env -u MAKEFLAGS -u MFLAGS $(MAKE) -C $(BUILDROOT) BR2_EXTERNAL=$(CURDIR)/buildroot_external O=$(BR_OUT)

# The voice prompts are rendered on the build host (Buildroot has no espeak-ng) and travel in the
# appliance package, whose source is this tree (rendered/ included).
image:
	@if [ -z "$(BUILDROOT)" ]; then \
		echo "make image: BUILDROOT is not set; use make image BUILDROOT=/path/to/buildroot [BOARD=<board>]" >&2; \
		echo "boards: $(patsubst pbx_%_defconfig,%,$(notdir $(wildcard buildroot_external/configs/pbx_*_defconfig)))" >&2; \
		exit 2; \
	fi
	@[ -f "$(BUILDROOT)/Makefile" ] && [ -d "$(BUILDROOT)/package" ] || { echo "make image: $(BUILDROOT) is not a Buildroot tree" >&2; exit 2; }
	@[ -f buildroot_external/configs/pbx_$(BOARD)_defconfig ] || { echo "make image: unknown BOARD '$(BOARD)'; boards: $(patsubst pbx_%_defconfig,%,$(notdir $(wildcard buildroot_external/configs/pbx_*_defconfig)))" >&2; exit 2; }
	$(MAKE) prompts webassets
	$(BR_MAKE) pbx_$(BOARD)_defconfig
	$(BR_MAKE)
