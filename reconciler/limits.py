"""Numeric limits of the Probe API, in a module light enough for start-up paths."""

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
