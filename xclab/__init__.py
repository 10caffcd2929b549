"""XCL Lab: shared, dependency-light core (settings, run spec, catalog) used by every role."""

__version__ = "0.1.0"
