"""The simulation layer: the reference interpreter (`interpreter`, one module
per dialect it executes) and above it the runtime that counts every event on
a chip (`runtime`), the report (`report`), the traffic and latency bounds
(`analysis`), ADC calibration (`calibration`), accuracy against float
(`accuracy`) and the timeline of the executed program (`timeline`)."""
