"""Request and response bodies of REST API v1, one module per resource."""
