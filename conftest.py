"""Repo-wide test configuration: hypothesis profiles.

``ci`` (set when the CI variable is present) is derandomised and keeps no example
database, so runs are independent; ``dev`` keeps hypothesis's defaults otherwise.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
