// A plain Verilog testbench, no cocotb: bring the engine up through the AXI wrapper and
// complete one NOP. tests/test_integration.py compiles it with the generated
// chimney_engine.v, chimney_engine_axi.v and chimney_regs.vh, on Icarus as written.
//
//   host_mem.hex  in:  64 KiB of host memory, 64-bit words (the command ring's slot 0 holds
//                      the NOP; the test writes it with chimney.contract's COMMAND layout;
//                      without the file, slot 0 is all zeros: a NOP with tag 0, as the
//                      FuseSoC `sim` target runs it)
//   host_out.hex  out: the completion ring after the NOP
//
// It prints "TB PASS" when the engine reported READY, took the NOP and advanced CPLQ_PROD;
// the test then decodes the completion entry itself. Every wait has a cycle limit.
`timescale 1ns/1ps
`default_nettype none
`include "chimney_regs.vh"

module chimney_nop_tb;
  localparam CMDQ_BASE = 32'h1000, CPLQ_BASE = 32'h2000, EVTQ_BASE = 32'h3000, LOG2 = 2;
  localparam MEM_WORDS = 8192;          // 64 KiB
  localparam TIMEOUT = 200000;          // cycles for any one wait

  reg aclk = 0;
  always #5 aclk = ~aclk;
  reg aresetn = 0;

  // AXI4-Lite manager (this testbench)
  reg  [11:0] awaddr = 0, araddr = 0;
  reg  [31:0] wdata = 0;
  reg         awvalid = 0, wvalid = 0, bready = 0, arvalid = 0, rready = 0;
  wire        awready, wready, bvalid, arready, rvalid;
  wire [1:0]  bresp, rresp;
  wire [31:0] rdata;

  // AXI4 subordinate (host memory), 64-bit data
  wire        m_awid, m_arid, m_awvalid, m_wvalid, m_wlast, m_bready, m_arvalid, m_rready;
  wire [63:0] m_awaddr, m_araddr, m_wdata;
  wire [7:0]  m_awlen, m_arlen, m_wstrb;
  wire [2:0]  m_awsize, m_arsize, m_awprot, m_arprot;
  wire [1:0]  m_awburst, m_arburst;
  wire [3:0]  m_awcache, m_arcache;
  wire        m_awlock, m_arlock;
  wire        irq;
  reg         m_awready = 0, m_wready = 0, m_bvalid = 0, m_arready = 0, m_rvalid = 0, m_rlast = 0;
  reg  [63:0] m_rdata = 0;

  chimney_engine_axi dut (
    .aclk(aclk), .aresetn(aresetn),
    .s_axil_awaddr(awaddr), .s_axil_awprot(3'b000), .s_axil_awvalid(awvalid), .s_axil_awready(awready),
    .s_axil_wdata(wdata), .s_axil_wstrb(4'hF), .s_axil_wvalid(wvalid), .s_axil_wready(wready),
    .s_axil_bresp(bresp), .s_axil_bvalid(bvalid), .s_axil_bready(bready),
    .s_axil_araddr(araddr), .s_axil_arprot(3'b000), .s_axil_arvalid(arvalid), .s_axil_arready(arready),
    .s_axil_rdata(rdata), .s_axil_rresp(rresp), .s_axil_rvalid(rvalid), .s_axil_rready(rready),
    .m_axi_awid(m_awid), .m_axi_awaddr(m_awaddr), .m_axi_awlen(m_awlen), .m_axi_awsize(m_awsize),
    .m_axi_awburst(m_awburst), .m_axi_awlock(m_awlock), .m_axi_awcache(m_awcache), .m_axi_awprot(m_awprot),
    .m_axi_awvalid(m_awvalid), .m_axi_awready(m_awready),
    .m_axi_wdata(m_wdata), .m_axi_wstrb(m_wstrb), .m_axi_wlast(m_wlast), .m_axi_wvalid(m_wvalid),
    .m_axi_wready(m_wready),
    .m_axi_bid(1'b0), .m_axi_bresp(2'b00), .m_axi_bvalid(m_bvalid), .m_axi_bready(m_bready),
    .m_axi_arid(m_arid), .m_axi_araddr(m_araddr), .m_axi_arlen(m_arlen), .m_axi_arsize(m_arsize),
    .m_axi_arburst(m_arburst), .m_axi_arlock(m_arlock), .m_axi_arcache(m_arcache), .m_axi_arprot(m_arprot),
    .m_axi_arvalid(m_arvalid), .m_axi_arready(m_arready),
    .m_axi_rid(1'b0), .m_axi_rdata(m_rdata), .m_axi_rresp(2'b00), .m_axi_rlast(m_rlast),
    .m_axi_rvalid(m_rvalid), .m_axi_rready(m_rready),
    .irq(irq)
  );

  // ---- host memory: one read burst and one write burst at a time (a legal subordinate)
  reg [63:0] mem [0:MEM_WORDS-1];
  reg [12:0] rd_word, wr_word;
  reg [7:0]  rd_left;
  reg        rd_busy = 0, wr_addr_ok = 0;
  integer    i;

  always @(posedge aclk) begin
    if (!aresetn) begin
      m_arready <= 0; m_rvalid <= 0; rd_busy <= 0;
      m_awready <= 0; m_wready <= 0; m_bvalid <= 0; wr_addr_ok <= 0;
    end else begin
      // reads: AR, then arlen+1 beats back to back
      m_arready <= !rd_busy && !(m_arready && m_arvalid);
      if (m_arready && m_arvalid) begin
        rd_busy <= 1; rd_word <= m_araddr[15:3]; rd_left <= m_arlen;
        m_rvalid <= 1; m_rdata <= mem[m_araddr[15:3]]; m_rlast <= (m_arlen == 0);
      end else if (m_rvalid && m_rready) begin
        if (m_rlast) begin
          m_rvalid <= 0; rd_busy <= 0;
        end else begin
          rd_word <= rd_word + 1; rd_left <= rd_left - 1;
          m_rdata <= mem[rd_word + 1]; m_rlast <= (rd_left == 1);
        end
      end
      // writes: AW, then its W beats, then B
      m_awready <= !wr_addr_ok && !m_bvalid && !(m_awready && m_awvalid);
      if (m_awready && m_awvalid) begin
        wr_addr_ok <= 1; wr_word <= m_awaddr[15:3]; m_wready <= 1;
      end
      if (m_wready && m_wvalid) begin
        for (i = 0; i < 8; i = i + 1)
          if (m_wstrb[i]) mem[wr_word][i*8 +: 8] <= m_wdata[i*8 +: 8];
        wr_word <= wr_word + 1;
        if (m_wlast) begin
          m_wready <= 0; wr_addr_ok <= 0; m_bvalid <= 1;
        end
      end
      if (m_bvalid && m_bready) m_bvalid <= 0;
    end
  end

  // ---- AXI4-Lite manager tasks
  integer waited;
  task fail(input [8*64-1:0] what);
    begin
      $display("TB FAIL: %0s", what);
      $finish;
    end
  endtask

  task csr_write(input [11:0] addr, input [31:0] data);
    begin
      @(negedge aclk);
      awaddr = addr; wdata = data; awvalid = 1; wvalid = 1; bready = 1;
      waited = 0;
      while (awvalid || wvalid) begin
        @(posedge aclk);
        if (awready) awvalid <= 0;
        if (wready) wvalid <= 0;
        waited = waited + 1;
        if (waited > 100) fail("CSR write: AWREADY/WREADY never came");
        @(negedge aclk);
      end
      waited = 0;
      while (!bvalid) begin
        @(negedge aclk);
        waited = waited + 1;
        if (waited > 100) fail("CSR write: no B");
      end
      if (bresp != 2'b00) fail("CSR write: BRESP not OKAY");
      @(posedge aclk); @(negedge aclk);
      bready = 0;
    end
  endtask

  task csr_read(input [11:0] addr, output [31:0] data);
    begin
      @(negedge aclk);
      araddr = addr; arvalid = 1; rready = 1;
      waited = 0;
      while (arvalid) begin
        @(posedge aclk);
        if (arready) arvalid <= 0;
        waited = waited + 1;
        if (waited > 100) fail("CSR read: ARREADY never came");
        @(negedge aclk);
      end
      waited = 0;
      while (!rvalid) begin
        @(negedge aclk);
        waited = waited + 1;
        if (waited > 100) fail("CSR read: no R");
      end
      if (rresp != 2'b00) fail("CSR read: RRESP not OKAY");
      data = rdata;
      @(posedge aclk); @(negedge aclk);
      rready = 0;
    end
  endtask

  reg [31:0] value;
  integer fd;
  initial begin
    if (`CHIMNEY_PARAM_DATA_WIDTH != 64) fail("this testbench's host memory is 64 bits wide");
    for (i = 0; i < MEM_WORDS; i = i + 1) mem[i] = 0;
    fd = $fopen("host_mem.hex", "r");
    if (fd) begin
      $fclose(fd);
      $readmemh("host_mem.hex", mem);
    end else
      $display("TB no host_mem.hex: command slot 0 stays zero, a NOP with tag 0");
    repeat (5) @(posedge aclk);
    aresetn = 1;

    csr_read(`CHIMNEY_REG_ID, value);
    if (value != `CHIMNEY_ID) fail("ID does not read CHIMNEY_ID");
    waited = 0;
    value = 0;
    while (!(value & `CHIMNEY_STATUS_READY_MASK)) begin
      csr_read(`CHIMNEY_REG_STATUS, value);
      waited = waited + 1;
      if (waited > TIMEOUT / 8) fail("STATUS.READY never set");
    end
    $display("TB READY after %0d STATUS reads, at %0d ns", waited, $time);

    csr_write(`CHIMNEY_REG_CMDQ_BASE_LO, CMDQ_BASE); csr_write(`CHIMNEY_REG_CMDQ_BASE_HI, 0);
    csr_write(`CHIMNEY_REG_CMDQ_SIZE, LOG2);
    csr_write(`CHIMNEY_REG_CPLQ_BASE_LO, CPLQ_BASE); csr_write(`CHIMNEY_REG_CPLQ_BASE_HI, 0);
    csr_write(`CHIMNEY_REG_CPLQ_SIZE, LOG2);
    csr_write(`CHIMNEY_REG_EVTQ_BASE_LO, EVTQ_BASE); csr_write(`CHIMNEY_REG_EVTQ_BASE_HI, 0);
    csr_write(`CHIMNEY_REG_EVTQ_SIZE, LOG2);
    csr_write(`CHIMNEY_REG_CTRL, `CHIMNEY_CTRL_ENABLE_MASK);
    csr_write(`CHIMNEY_REG_CMDQ_PROD, 1);

    waited = 0;
    value = 0;
    while ((value & `CHIMNEY_CPLQ_PROD_INDEX_MASK) != 1) begin
      csr_read(`CHIMNEY_REG_CPLQ_PROD, value);
      waited = waited + 1;
      if (waited > TIMEOUT / 8) fail("CPLQ_PROD never reached 1");
    end
    $display("TB completion seen after %0d CPLQ_PROD reads, at %0d ns", waited, $time);
    csr_read(`CHIMNEY_REG_CMDQ_CONS, value);
    if ((value & `CHIMNEY_CMDQ_CONS_INDEX_MASK) != 1) fail("CMDQ_CONS is not 1 after the NOP");
    $writememh("host_out.hex", mem, CPLQ_BASE / 8, CPLQ_BASE / 8 + 7);
    $display("TB PASS: NOP completed at %0d ns", $time);
    $finish;
  end
endmodule
`default_nettype wire
