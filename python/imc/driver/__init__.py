"""The driver layer, beside the command-line tools (`tools/`, `imc.tools`):
`imc.compile` (`compiler`), the `torch.compile` backend (`backend`), the
dialect reference generator (`docgen`) and co-design sweeps (`sweep`)."""
