"""Software bills of materials: one module per format."""
