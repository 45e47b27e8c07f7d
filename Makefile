# truceline developer commands. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := out/demo
# The demo's scenario and the UTC day it simulates (docs/scenarios.md).
DEMO_SCENARIO := ceasefire-breach
DEMO_DATE     := 2026-03-05

.PHONY: setup demo test test-fast bench lint format lock clean

setup: $(STAMP)

# Re-installs only when the dependency declarations change; otherwise a no-op.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<27"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,postgres]"
	@touch $(STAMP)

demo: setup
	@mkdir -p $(DEMO)
	$(BIN)/truceline agreement show illustrative-2026
	$(BIN)/truceline agreement export illustrative-2026 --out $(DEMO)/agreement.geojson
	$(BIN)/truceline place 37.62 48.52 --agreement illustrative-2026
	$(BIN)/truceline simulate --scenario $(DEMO_SCENARIO) --seed 1 --out $(DEMO)/sim
	@rm -f $(DEMO)/truceline.db*
	@test -f $(DEMO)/monitor.key || $(BIN)/truceline keys init $(DEMO)/monitor.key
	$(BIN)/truceline --db $(DEMO)/truceline.db --set ledger.key_path=$(DEMO)/monitor.key \
	  process --agreement $(DEMO)/sim/agreement.yaml \
	  --sensors $(DEMO)/sim/sensors.geojson --observations $(DEMO)/sim/observations.jsonl \
	  --out $(DEMO)
	@rm -rf $(DEMO)/evidence
	$(BIN)/truceline --db $(DEMO)/truceline.db --set ledger.key_path=$(DEMO)/monitor.key \
	  export-evidence "$$($(BIN)/python -c 'import json, sys; \
	  print(json.load(open(sys.argv[1]))["features"][0]["properties"]["id"])' \
	  $(DEMO)/events.geojson)" --out $(DEMO)/evidence
	$(BIN)/truceline verify $(DEMO)/evidence --key $(DEMO)/monitor.key.pub
	$(BIN)/truceline evaluate --truth $(DEMO)/sim/truth.jsonl --events $(DEMO)/events.geojson \
	  --observations $(DEMO)/sim/observations.jsonl --sensors $(DEMO)/sim/sensors.geojson \
	  --json $(DEMO)/evaluation.json
	$(BIN)/truceline --db $(DEMO)/truceline.db --set ledger.key_path=$(DEMO)/monitor.key \
	  report --date $(DEMO_DATE) --agreement $(DEMO)/sim/agreement.yaml \
	  --evaluation $(DEMO)/evaluation.json --out $(DEMO)/report
	@for fmt in geojson csv kml cot; do \
	  $(BIN)/truceline --db $(DEMO)/truceline.db export --format $$fmt \
	    --out $(DEMO)/exports/events.$$fmt || exit 1; done
	@echo
	@echo "Agreement geometry for QGIS:  $(DEMO)/agreement.geojson"
	@echo "Simulated scenario and truth: $(DEMO)/sim/"
	@echo "Located events:               $(DEMO)/events.geojson"
	@echo "Scores against the truth:     $(DEMO)/evaluation.json"
	@echo "Store (SQLite):               $(DEMO)/truceline.db"
	@echo "Evidence of the first event:  $(DEMO)/evidence (monitor's key: $(DEMO)/monitor.key.pub)"
	@echo "Daily report (HTML, PDF):     $(DEMO)/report/report.html, $(DEMO)/report/report.pdf"
	@echo "Exports (GeoJSON, CSV, KML, Cursor-on-Target): $(DEMO)/exports/events.{geojson,csv,kml,cot}"

test: setup
	$(BIN)/python -m pytest -n 2 -q

test-fast: setup
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# PyOcto (the peer in bench/bench_pyocto.py) needs numpy<2 on Python 3.11, against the project's
# numpy pin, so it gets its own environment from a Python >= 3.12 where constraints.txt resolves.
# Without one, the other benchmarks still run and bench_pyocto reports the missing package.
PYOCTO_BASE ?= python3.12
PYOCTO_VENV := bench/.cache/pyocto-venv

$(PYOCTO_VENV)/.installed: pyproject.toml constraints.txt
	$(PYOCTO_BASE) -m venv $(PYOCTO_VENV)
	$(PYOCTO_VENV)/bin/python -m pip install --quiet -c constraints.txt "pyocto>=0.2,<0.3"
	@touch $@

bench: setup
	-@$(MAKE) --no-print-directory $(PYOCTO_VENV)/.installed
	-$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[bench-radar]"
	$(BIN)/python bench/run.py

lint: setup
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

format: setup
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

# Regenerates constraints.txt from a clean resolution of pyproject.toml.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade "pip>=24,<27"
	.lockenv/bin/python -m pip install --quiet ".[dev,postgres]"
	.lockenv/bin/python -m pip freeze --exclude truceline > constraints.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) out build dist .pytest_cache .ruff_cache
