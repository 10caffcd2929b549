"""Everything the API does to the database, as plain functions over a Session, one module per resource.

Store functions add, change and flush; they never commit (see `backend.unit_of_work`).
"""
