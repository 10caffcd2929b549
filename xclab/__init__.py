"""XCL Lab: the shared, dependency-light core used by every role: settings, run spec, catalog, grids, the REST
client and the Celery transport settings. It imports no other package of the project, nor torch or a web framework."""

__version__ = "0.1.0"
