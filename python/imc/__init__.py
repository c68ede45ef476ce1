"""imc: an MLIR compiler for in-memory-computing (crossbar) accelerators."""
