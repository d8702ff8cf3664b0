"""Tests of the calculation engine (hub/calc, calc_ext)."""
