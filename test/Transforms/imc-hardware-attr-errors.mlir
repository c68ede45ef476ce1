// RUN: imc-opt %s --split-input-file --verify-diagnostics -p imc-map-contractions
// RUN: imc-opt %s --split-input-file --verify-diagnostics -p imc-tile
// RUN: imc-opt %s --split-input-file --verify-diagnostics -p imc-place-crossbars
// RUN: imc-opt %s --split-input-file --verify-diagnostics -p imc-tile-rows
// RUN: imc-opt %s --split-input-file --verify-diagnostics -p imc-place-buffers
// RUN: imc-opt %s --split-input-file --verify-diagnostics -p imc-check-buffers

// Every imc pass reads the module's `imc.hardware` attribute; a malformed one
// is an error on the module (the same message as the op verifiers give),
// never a traceback. The module has no op that needs the hardware to verify,
// so parsing succeeds and the pass reports it.

// wrong kind
// expected-error @+1 {{'builtin.module' op attribute 'imc.hardware': 5 : i64 is not a dictionary attribute}}
module attributes {imc.hardware = 5} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// wrong type
// expected-error @+1 {{'builtin.module' op attribute 'imc.hardware': xbar_rows = "a" has the wrong type (expected an integer, got string)}}
module attributes {imc.hardware = {adc_bits = 8 : i64, adc_range = 1.000000e+00 : f64, cell_bits = 2 : i64, clock_ghz = 1.000000e+00 : f64, cores = 512 : i64, crossbars_per_core = 8 : i64, dac_bits = 1 : i64, description = "generic analog IMC chip: 512 cores x 8 crossbars of 128x128 2-bit cells, 8-bit weights/inputs, 8-bit ADC", dram_bandwidth_gbps = 2.560000e+01 : f64, energy_pj = {adc = 1.562500e+00 : f64, cell_program = 1.380000e+00 : f64, dac = 3.906250e-01 : f64, digital_op = 4.170000e-02 : f64, dram_read_byte = 4.000000e+01 : f64, dram_write_byte = 4.000000e+01 : f64, mvm = 3.000000e+01 : f64, spad_read_byte = 1.000000e+00 : f64, spad_write_byte = 1.000000e+00 : f64}, input_bits = 8 : i64, latency_ns = {adc = 7.812500e-01 : f64, cell_program = 85.689999999999998 : f64, dac = 1.000000e+00 : f64, digital_op = 1.000000e+00 : f64, dram_read_byte = 3.906250e-02 : f64, dram_write_byte = 3.906250e-02 : f64, mvm = 1.000000e+02 : f64, spad_read_byte = 3.906250e-03 : f64, spad_write_byte = 3.906250e-03 : f64}, name = "default", program_noise = 2.000000e-02 : f64, read_noise = 1.000000e-02 : f64, spad_alignment = 64 : i64, spad_bandwidth_gbps = 2.560000e+02 : f64, spad_bytes = 262144 : i64, weight_bits = 8 : i64, xbar_cols = 128 : i64, xbar_rows = "a"}} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// missing key
// expected-error @+1 {{'builtin.module' op attribute 'imc.hardware': missing required key 'spad_bytes'}}
module attributes {imc.hardware = {adc_bits = 8 : i64, adc_range = 1.000000e+00 : f64, cell_bits = 2 : i64, clock_ghz = 1.000000e+00 : f64, cores = 512 : i64, crossbars_per_core = 8 : i64, dac_bits = 1 : i64, description = "generic analog IMC chip: 512 cores x 8 crossbars of 128x128 2-bit cells, 8-bit weights/inputs, 8-bit ADC", dram_bandwidth_gbps = 2.560000e+01 : f64, energy_pj = {adc = 1.562500e+00 : f64, cell_program = 1.380000e+00 : f64, dac = 3.906250e-01 : f64, digital_op = 4.170000e-02 : f64, dram_read_byte = 4.000000e+01 : f64, dram_write_byte = 4.000000e+01 : f64, mvm = 3.000000e+01 : f64, spad_read_byte = 1.000000e+00 : f64, spad_write_byte = 1.000000e+00 : f64}, input_bits = 8 : i64, latency_ns = {adc = 7.812500e-01 : f64, cell_program = 85.689999999999998 : f64, dac = 1.000000e+00 : f64, digital_op = 1.000000e+00 : f64, dram_read_byte = 3.906250e-02 : f64, dram_write_byte = 3.906250e-02 : f64, mvm = 1.000000e+02 : f64, spad_read_byte = 3.906250e-03 : f64, spad_write_byte = 3.906250e-03 : f64}, name = "default", program_noise = 2.000000e-02 : f64, read_noise = 1.000000e-02 : f64, spad_alignment = 64 : i64, spad_bandwidth_gbps = 2.560000e+02 : f64, weight_bits = 8 : i64, xbar_cols = 128 : i64, xbar_rows = 128 : i64}} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// out of range
// expected-error @+1 {{'builtin.module' op attribute 'imc.hardware': xbar_rows = 0 is out of range (allowed 1..65536)}}
module attributes {imc.hardware = {adc_bits = 8 : i64, adc_range = 1.000000e+00 : f64, cell_bits = 2 : i64, clock_ghz = 1.000000e+00 : f64, cores = 512 : i64, crossbars_per_core = 8 : i64, dac_bits = 1 : i64, description = "generic analog IMC chip: 512 cores x 8 crossbars of 128x128 2-bit cells, 8-bit weights/inputs, 8-bit ADC", dram_bandwidth_gbps = 2.560000e+01 : f64, energy_pj = {adc = 1.562500e+00 : f64, cell_program = 1.380000e+00 : f64, dac = 3.906250e-01 : f64, digital_op = 4.170000e-02 : f64, dram_read_byte = 4.000000e+01 : f64, dram_write_byte = 4.000000e+01 : f64, mvm = 3.000000e+01 : f64, spad_read_byte = 1.000000e+00 : f64, spad_write_byte = 1.000000e+00 : f64}, input_bits = 8 : i64, latency_ns = {adc = 7.812500e-01 : f64, cell_program = 85.689999999999998 : f64, dac = 1.000000e+00 : f64, digital_op = 1.000000e+00 : f64, dram_read_byte = 3.906250e-02 : f64, dram_write_byte = 3.906250e-02 : f64, mvm = 1.000000e+02 : f64, spad_read_byte = 3.906250e-03 : f64, spad_write_byte = 3.906250e-03 : f64}, name = "default", program_noise = 2.000000e-02 : f64, read_noise = 1.000000e-02 : f64, spad_alignment = 64 : i64, spad_bandwidth_gbps = 2.560000e+02 : f64, spad_bytes = 262144 : i64, weight_bits = 8 : i64, xbar_cols = 128 : i64, xbar_rows = 0 : i64}} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// inf
// expected-error @+1 {{'builtin.module' op attribute 'imc.hardware': clock_ghz = inf is not finite (allowed > 0)}}
module attributes {imc.hardware = {adc_bits = 8 : i64, adc_range = 1.000000e+00 : f64, cell_bits = 2 : i64, clock_ghz = 0x7FF0000000000000 : f64, cores = 512 : i64, crossbars_per_core = 8 : i64, dac_bits = 1 : i64, description = "generic analog IMC chip: 512 cores x 8 crossbars of 128x128 2-bit cells, 8-bit weights/inputs, 8-bit ADC", dram_bandwidth_gbps = 2.560000e+01 : f64, energy_pj = {adc = 1.562500e+00 : f64, cell_program = 1.380000e+00 : f64, dac = 3.906250e-01 : f64, digital_op = 4.170000e-02 : f64, dram_read_byte = 4.000000e+01 : f64, dram_write_byte = 4.000000e+01 : f64, mvm = 3.000000e+01 : f64, spad_read_byte = 1.000000e+00 : f64, spad_write_byte = 1.000000e+00 : f64}, input_bits = 8 : i64, latency_ns = {adc = 7.812500e-01 : f64, cell_program = 85.689999999999998 : f64, dac = 1.000000e+00 : f64, digital_op = 1.000000e+00 : f64, dram_read_byte = 3.906250e-02 : f64, dram_write_byte = 3.906250e-02 : f64, mvm = 1.000000e+02 : f64, spad_read_byte = 3.906250e-03 : f64, spad_write_byte = 3.906250e-03 : f64}, name = "default", program_noise = 2.000000e-02 : f64, read_noise = 1.000000e-02 : f64, spad_alignment = 64 : i64, spad_bandwidth_gbps = 2.560000e+02 : f64, spad_bytes = 262144 : i64, weight_bits = 8 : i64, xbar_cols = 128 : i64, xbar_rows = 128 : i64}} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// latency
// expected-error @+1 {{'builtin.module' op attribute 'imc.hardware': latency_ns.dram_read_byte = 1.0 is inconsistent with dram_bandwidth_gbps = 25.6 (must be 1/bandwidth = 0.0390625 ns per byte)}}
module attributes {imc.hardware = {adc_bits = 8 : i64, adc_range = 1.000000e+00 : f64, cell_bits = 2 : i64, clock_ghz = 1.000000e+00 : f64, cores = 512 : i64, crossbars_per_core = 8 : i64, dac_bits = 1 : i64, description = "generic analog IMC chip: 512 cores x 8 crossbars of 128x128 2-bit cells, 8-bit weights/inputs, 8-bit ADC", dram_bandwidth_gbps = 2.560000e+01 : f64, energy_pj = {adc = 1.562500e+00 : f64, cell_program = 1.380000e+00 : f64, dac = 3.906250e-01 : f64, digital_op = 4.170000e-02 : f64, dram_read_byte = 4.000000e+01 : f64, dram_write_byte = 4.000000e+01 : f64, mvm = 3.000000e+01 : f64, spad_read_byte = 1.000000e+00 : f64, spad_write_byte = 1.000000e+00 : f64}, input_bits = 8 : i64, latency_ns = {adc = 7.812500e-01 : f64, cell_program = 85.689999999999998 : f64, dac = 1.000000e+00 : f64, digital_op = 1.000000e+00 : f64, dram_read_byte = 1.0 : f64, dram_write_byte = 3.906250e-02 : f64, mvm = 1.000000e+02 : f64, spad_read_byte = 3.906250e-03 : f64, spad_write_byte = 3.906250e-03 : f64}, name = "default", program_noise = 2.000000e-02 : f64, read_noise = 1.000000e-02 : f64, spad_alignment = 64 : i64, spad_bandwidth_gbps = 2.560000e+02 : f64, spad_bytes = 262144 : i64, weight_bits = 8 : i64, xbar_cols = 128 : i64, xbar_rows = 128 : i64}} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// a value the Python bindings cannot wrap (reading it through a
// NamedAttribute aborted the process): named, not a crash
// expected-error @+1 {{'builtin.module' op attribute 'imc.hardware': energy_pj.adc has a value of a type imc cannot read}}
module attributes {imc.hardware = {energy_pj = {adc = array<si32: 3, 3>}}} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// the attribute itself is a value the bindings cannot wrap
// expected-error @+1 {{'builtin.module' op attribute 'imc.hardware': a value of a type imc cannot read}}
module attributes {imc.hardware = array<si32: 0, 2>} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
