"""PyTorch / transformers backend. config.py imports nothing heavy; backend.py imports the engine."""

from llem.registry import Engine

ENGINE = Engine(
    name="pytorch",
    env_prefixes=("PYTORCH_", "TRANSFORMERS_"),
    settings="llem.backends.pytorch.config:PyTorchConfig",
    offline="llem.backends.pytorch.backend:PyTorchBackend",
    extra="pytorch",
    modules=("torch", "transformers"),
    dists=("transformers",),  # the engine's version is transformers' (backend.describe() says the same)
    packages=("transformers", "accelerate"),
    prefix_cache="llem.backends.pytorch.prefix_cache:readout",
    output_reference=True,  # transformers is the model's own implementation
)
