"""Golden models: float PyTorch SqueezeNets, the int8 quantiser, the pure
integer reference that the hardware must match bit for bit, and the bundle
file format that carries a quantized network to ``rtl_gen``."""
