"""unipay hub: the canonical store, domain services, the CLI and the Python reference calculator."""

__version__ = "0.1.0"
