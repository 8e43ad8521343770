"""Lets InvokeAI's Node Manager load this repository as a pack (it clones the whole repository into nodes/)."""

from .remove_background_node import RemoveBackgroundInvocation, RemoveBackgroundOutput  # noqa: F401
