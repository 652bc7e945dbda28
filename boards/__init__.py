"""chimney on an FPGA board: the UART bridge, the board's interconnect and host memory,
the board top for amaranth-boards platforms (docs/board.md)."""
