// Behavioural model of the iCE40 UP5K single-port RAM (16K x 16), enough
// for fpga.image_store: a read updates DATAOUT on the clock edge, a write
// (nibble mask MASKWREN) leaves it unchanged.  Power-down inputs are honoured
// only as "no access".
module SB_SPRAM256KA (
    input  [13:0] ADDRESS,
    input  [15:0] DATAIN,
    input  [3:0]  MASKWREN,
    input         WREN, CHIPSELECT, CLOCK, STANDBY, SLEEP, POWEROFF,
    output reg [15:0] DATAOUT
);
    reg [15:0] mem [0:16383];
    always @(posedge CLOCK) begin
        if (CHIPSELECT && !STANDBY && !SLEEP && POWEROFF) begin
            if (WREN) begin
                if (MASKWREN[0]) mem[ADDRESS][3:0]   <= DATAIN[3:0];
                if (MASKWREN[1]) mem[ADDRESS][7:4]   <= DATAIN[7:4];
                if (MASKWREN[2]) mem[ADDRESS][11:8]  <= DATAIN[11:8];
                if (MASKWREN[3]) mem[ADDRESS][15:12] <= DATAIN[15:12];
            end else begin
                DATAOUT <= mem[ADDRESS];
            end
        end
    end
endmodule
