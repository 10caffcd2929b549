"""The `xclab` command: the composition root that starts the API, workers and the dashboard, and talks to the API.

It sits above every other package (the core `xclab`, `backend`, `worker`, `dashboard`) and nothing imports it.
A command imports its role's package only when it runs: each role's image installs only that role's extra, so
the API image has no torch and the worker image no FastAPI, yet both run `xclab`.
"""
