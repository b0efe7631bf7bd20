"""Protocol v1 of gb: frame layout, codes and the pure-Python reference codec (see SPEC.md)."""
