"""Into the store: the sink that inserts each batch and commits its offsets, and the figures
recomputed after it."""
