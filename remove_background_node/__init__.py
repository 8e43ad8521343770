"""Remove Background: an InvokeAI node pack that cuts subjects out of images with rembg's models.

InvokeAI imports this package at start-up; importing it only registers the nodes. rembg,
pymatting and numba are imported the first time a node runs.
"""

from .invocations import RefineCutoutInvocation, RemoveBackgroundInvocation, RemoveBackgroundOutput

__all__ = ["RefineCutoutInvocation", "RemoveBackgroundInvocation", "RemoveBackgroundOutput"]
