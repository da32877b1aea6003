"""The simulation library: runners, harnesses, cases, primitive models."""
