"""The pack's nodes: thin InvokeAI invocations over the pipeline (fields, outputs, invoke = host -> pipeline -> host)."""

from .common import RemoveBackgroundOutput
from .remove_background import RemoveBackgroundInvocation

__all__ = ["RemoveBackgroundInvocation", "RemoveBackgroundOutput"]
