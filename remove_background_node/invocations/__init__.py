"""The pack's nodes: thin InvokeAI invocations over the pipeline (fields, outputs, invoke = host -> pipeline -> host)."""

from .common import RemoveBackgroundOutput
from .refine_cutout import RefineCutoutInvocation
from .remove_background import RemoveBackgroundInvocation

__all__ = ["RefineCutoutInvocation", "RemoveBackgroundInvocation", "RemoveBackgroundOutput"]
