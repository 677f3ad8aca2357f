"""CLI sub-commands: thin wrappers, one module each, around the library functions."""
