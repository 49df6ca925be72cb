"""Version control adapters: one module per backend."""
