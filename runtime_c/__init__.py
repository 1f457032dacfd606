"""Package data: see setup.py."""
