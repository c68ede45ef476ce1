"""The frontend, the only code that imports torch besides the driver: the
Torch-MLIR import of a PyTorch model to linalg-on-tensors (`importer`), the
folding of its affine index arithmetic (`affine_folding`) and the model zoo
(`models`)."""
