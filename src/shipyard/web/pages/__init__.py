"""One module per dashboard page; each holds its routes on its own router."""
