"""The vendor-facing wrapper: `chimney_engine_axi`, its instantiation templates, and a
Verilog register header.

`chimney_engine` keeps Amaranth's names (`csr__awaddr`, active-high `rst`). Vendor IP
packagers look for the conventional ones, so the wrapper renames every port:

    clk -> aclk          rst (active high) -> aresetn (active low, synchronous)
    csr__* -> s_axil_*   dma__* -> m_axi_*   irq -> irq

and marks them with Xilinx `X_INTERFACE_INFO`/`X_INTERFACE_PARAMETER` attributes, so IP
Integrator infers the AXI4-Lite subordinate, the AXI4 manager, the clock, the reset and
the interrupt. Every port, its width and its direction come from `ChimneyEngine`'s
signature, so the wrapper cannot drift from the engine; the interface parameters come
from `EngineParams` and the DMA master's own limits.
"""

from dataclasses import dataclass

WRAPPER_NAME = "chimney_engine_axi"
ENGINE_NAME = "chimney_engine"
ENGINE_INSTANCE = "engine"        # the engine's instance name inside the wrapper

#: engine interface -> (wrapper prefix, IP-XACT bus name, interface mode)
INTERFACES = {"csr": ("s_axil", "slave"), "dma": ("m_axi", "master")}
CLOCK, RESET = "aclk", "aresetn"


@dataclass(frozen=True)
class Port:
    name: str            # the wrapper's port
    engine: str          # the engine's port it drives or reads
    direction: str       # "input" or "output", seen from the wrapper
    width: int
    interface: str = ""  # "s_axil", "m_axi" or "" (a sideband port)
    logical: str = ""    # the AXI signal name inside that interface (AWADDR ...)


def wrapper_ports(top):
    """The wrapper's ports, clock and reset first, then the engine signature's order."""
    from amaranth.hdl import Shape          # here, so the names above import without Amaranth
    from amaranth.lib import wiring
    ports = [Port(CLOCK, "clk", "input", 1), Port(RESET, "rst", "input", 1)]
    for path, member in top.signature.members.flatten():
        if not member.is_port:
            continue
        direction = "input" if member.flow == wiring.In else "output"
        width = Shape.cast(member.shape).width
        if len(path) == 2 and path[0] in INTERFACES:
            prefix = INTERFACES[path[0]][0]
            ports.append(Port(f"{prefix}_{path[1]}", "__".join(path), direction, width, prefix, path[1].upper()))
        elif len(path) == 1:
            ports.append(Port(path[0], path[0], direction, width))
        else:
            raise ValueError(f"engine port {'__'.join(path)} has no wrapper name")
    return ports


def interface_parameters(top):
    """X_INTERFACE_PARAMETER values per interface (AXI widths and limits of this build)."""
    p = top.params
    dma = top.dma_master
    csr_addr = top.csr_block.regmap.addr_bits
    return {
        "s_axil": {"PROTOCOL": "AXI4LITE", "DATA_WIDTH": 32, "ADDR_WIDTH": csr_addr, "ID_WIDTH": 0,
                   "READ_WRITE_MODE": "READ_WRITE", "HAS_WSTRB": 1, "HAS_BRESP": 1, "HAS_RRESP": 1,
                   "HAS_PROT": 1, "NUM_READ_OUTSTANDING": 1, "NUM_WRITE_OUTSTANDING": 1},
        "m_axi": {"PROTOCOL": "AXI4", "DATA_WIDTH": p.data_width, "ADDR_WIDTH": p.addr_width, "ID_WIDTH": 1,
                  "READ_WRITE_MODE": "READ_WRITE", "MAX_BURST_LENGTH": p.max_burst,
                  "NUM_READ_OUTSTANDING": dma.rd_outstanding, "NUM_WRITE_OUTSTANDING": dma.wr_outstanding,
                  "SUPPORTS_NARROW_BURST": int(p.data_width > 64), "HAS_BURST": 1, "HAS_LOCK": 1,
                  "HAS_CACHE": 1, "HAS_PROT": 1, "HAS_QOS": 0, "HAS_REGION": 0, "HAS_WSTRB": 1,
                  "HAS_BRESP": 1, "HAS_RRESP": 1},
    }


def _attrs(port, top, first_of):
    """The attribute lines for one port."""
    if port.name == CLOCK:
        busif = ":".join(prefix for prefix, _ in INTERFACES.values())
        return [f'(* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 {CLOCK} CLK" *)',
                f'(* X_INTERFACE_PARAMETER = "XIL_INTERFACENAME {CLOCK}, ASSOCIATED_BUSIF {busif}, '
                f'ASSOCIATED_RESET {RESET}" *)']
    if port.name == RESET:
        return [f'(* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 {RESET} RST" *)',
                f'(* X_INTERFACE_PARAMETER = "XIL_INTERFACENAME {RESET}, POLARITY ACTIVE_LOW" *)']
    if port.name == "irq":
        return ['(* X_INTERFACE_INFO = "xilinx.com:signal:interrupt:1.0 irq INTERRUPT" *)',
                '(* X_INTERFACE_PARAMETER = "XIL_INTERFACENAME irq, SENSITIVITY LEVEL_HIGH, PortWidth 1" *)']
    if not port.interface:
        return []
    lines = [f'(* X_INTERFACE_INFO = "xilinx.com:interface:aximm:1.0 {port.interface} {port.logical}" *)']
    if first_of.get(port.interface) == port.name:
        params = ", ".join(f"{k} {v}" for k, v in interface_parameters(top)[port.interface].items())
        lines.append(f'(* X_INTERFACE_PARAMETER = "XIL_INTERFACENAME {port.interface}, {params}" *)')
    return lines


def _range(width):
    return f"[{width - 1}:0] " if width > 1 else ""


def _header(what, params):
    return (f"// {what}\n"
            f"// Generated by `chimney generate` from chimney.contract and rtl/top.py: do not edit.\n"
            f"// Build parameters: {params.describe()}\n")


def wrapper_verilog(top):
    ports = wrapper_ports(top)
    first_of = {}
    for port in ports:
        first_of.setdefault(port.interface, port.name)
    width = max(len(p.name) for p in ports)
    decls = []
    for i, port in enumerate(ports):
        comma = "," if i < len(ports) - 1 else ""
        decls += [f"  {a}" for a in _attrs(port, top, first_of)]
        decls.append(f"  {port.direction:6s} wire {_range(port.width):8s}{port.name}{comma}")
    conns = []
    for i, port in enumerate(ports):
        comma = "," if i < len(ports) - 1 else ""
        source = f"~{RESET}" if port.name == RESET else port.name
        conns.append(f"    .{port.engine:{width + 2}s}({source}){comma}")
    return (_header(f"{WRAPPER_NAME}: {ENGINE_NAME} with conventional AXI port names and vendor "
                    f"interface attributes.", top.params)
            + "//\n"
              f"// {RESET} is synchronous and active low: the engine samples it on the rising edge of\n"
              f"// {CLOCK}; hold it low for at least one cycle. Every VALID is low from the first edge\n"
              f"// with {RESET} low. irq is a level, high while IRQ_STATUS & IRQ_MASK is non-zero.\n"
              "`default_nettype none\n"
              f"module {WRAPPER_NAME} (\n" + "\n".join(decls) + "\n);\n\n"
              f"  {ENGINE_NAME} {ENGINE_INSTANCE} (\n" + "\n".join(conns) + "\n  );\n\n"
              "endmodule\n"
              "`default_nettype wire\n")


def verilog_template(top):
    """An instantiation template in the Vivado `.veo` style."""
    ports = wrapper_ports(top)
    width = max(len(p.name) for p in ports)
    lines = [f"  .{p.name:{width}s} ({p.name:{width}s}){',' if i < len(ports) - 1 else ' '}  "
             f"// {p.direction:6s} {_range(p.width) or '1'}".rstrip()
             for i, p in enumerate(ports)]
    return (_header(f"Verilog instantiation template for {WRAPPER_NAME}: copy, rename the "
                    f"instance and the connected signals.", top.params)
            + f"\n{WRAPPER_NAME} u_{WRAPPER_NAME} (\n" + "\n".join(lines) + "\n);\n")


def _vhdl_type(width):
    return "std_logic" if width == 1 else f"std_logic_vector({width - 1} downto 0)"


def vhdl_template(top):
    """A component declaration and an instantiation in the Vivado `.vho` style."""
    ports = wrapper_ports(top)
    width = max(len(p.name) for p in ports)
    mode = {"input": "in ", "output": "out"}
    decls = [f"      {p.name:{width}s} : {mode[p.direction]} {_vhdl_type(p.width)}"
             f"{';' if i < len(ports) - 1 else ''}" for i, p in enumerate(ports)]
    maps = [f"      {p.name:{width}s} => {p.name}{',' if i < len(ports) - 1 else ''}"
            for i, p in enumerate(ports)]
    header = _header(f"VHDL component declaration and instantiation template for {WRAPPER_NAME}.",
                     top.params).replace("// ", "-- ").replace("//", "--")
    return (header + "\n-- Paste the component into your architecture's declarations and the instance after its\n-- begin (library ieee; use ieee.std_logic_1164.all;).\n\n"
            f"  component {WRAPPER_NAME}\n    port (\n" + "\n".join(decls) + "\n    );\n  end component;\n\n"
            f"  u_{WRAPPER_NAME} : {WRAPPER_NAME}\n    port map (\n" + "\n".join(maps) + "\n    );\n")
