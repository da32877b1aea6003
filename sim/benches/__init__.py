"""The cocotb testbenches (loaded by ``sim.lib.cocotb_run.simulate`` by module name)."""
