"""Connectors of the unipay hub: partner file formats (:mod:`connectors.formats`) and transports."""
