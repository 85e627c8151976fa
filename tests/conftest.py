"""Shared test settings: Hypothesis profiles.

"dev" is the default. "ci" is chosen when CI=true (as `.ci/run` is run): more examples, no
per-example deadline (CI machines are noisy), and a fixed seed so a CI failure replays exactly.
HYPOTHESIS_PROFILE=<name> overrides either.
"""

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=50)
settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, database=None, print_blob=True
)

_default = "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))
