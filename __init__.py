"""Lets InvokeAI's Node Manager load this repository as a pack (it clones the whole repository into nodes/)."""

import os

# pytest imports this folder as the parent package of tests/ (PYTEST_VERSION is set while pytest
# runs); the tests import remove_background_node themselves, and a second copy here would register
# every node twice ("Overriding node").
if "PYTEST_VERSION" not in os.environ:
    from .remove_background_node import *  # noqa: F401,F403
