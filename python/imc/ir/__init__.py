"""The IR layer, beside the dialect (`dialects/`, `imc.dialects`): IR helpers
(`utils`), the hardware description and its `imc.hardware` module attribute
(`hardware`, presets in `presets/`), what each op costs (`cost_events`),
contexts with the dialects loaded (`context`) and the one diagnostic type
(`diagnostics`). Imports nothing above it and never torch."""
