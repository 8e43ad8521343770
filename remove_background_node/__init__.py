"""Remove Background: an InvokeAI node pack that cuts subjects out of images with rembg's models.

InvokeAI imports this package at start-up; importing it only registers the node. rembg,
onnxruntime, pymatting and numba are imported the first time the node runs.
"""

from .invocation import RemoveBackgroundInvocation, RemoveBackgroundOutput

__all__ = ["RemoveBackgroundInvocation", "RemoveBackgroundOutput"]
