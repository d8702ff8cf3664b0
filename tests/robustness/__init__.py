"""Robustness tests: broken connections, growing files, redelivery, killed processes, fuzzed inputs."""
