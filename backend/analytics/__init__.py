"""The paper's analysis views over one grid or one experiment, computed from the database in a few queries.

`scope` loads the runs and their report; each view module (gap, entropy, student size, lineage, cost) registers
itself in `registry`, which the route `GET /analytics/{view}` dispatches through. Importing this package
registers every view.
"""

from backend.analytics import cost, entropy, gap, lineage, student_size  # noqa: F401  (registers the views)
