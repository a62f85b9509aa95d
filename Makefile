# meterlink: every target runs inside .venv, which `make setup` builds.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp

.PHONY: setup sim test bench soak flash deploy repl vdev package clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml tools/fetch_mplib.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make setup: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python tools/fetch_mplib.py build/mplib
	@touch $(STAMP)

# A whole simulated site on the host board; exits by itself with a summary.
sim: setup
	$(BIN)/meterlink sim $(SIM_ARGS)

test: setup
	$(BIN)/python -m pytest -q -m "not soak" $(TEST_ARGS)

# Long runs CI skips.
soak: setup
	$(BIN)/python -m pytest -q -m soak $(TEST_ARGS)

bench: setup
	$(BIN)/meterlink bench --json

flash: setup
	$(BIN)/meterlink flash --port $(PORT) $(FIRMWARE)

deploy: setup
	$(BIN)/meterlink deploy --port $(PORT) --board $(BOARD) $(if $(CONFIG),--config $(CONFIG))

repl: setup
	$(BIN)/meterlink repl --port $(PORT)

# A virtual device for trying the tools without a board: prints the pty to use as PORT.
vdev: setup
	$(BIN)/meterlink vdev $(VDEV_ARGS)

# Rewrite package.json (the mip package) after adding or removing firmware files.
package: setup
	$(BIN)/python -m meterlink_tools.package

clean:
	rm -rf $(VENV) build .pytest_cache
