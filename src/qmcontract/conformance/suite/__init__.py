"""The conformance suite as pytest tests, shipped in the package so an installed wheel can run it."""
