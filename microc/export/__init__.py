"""Writers from the IR back to model file formats (the inverse of microc/frontends)."""
