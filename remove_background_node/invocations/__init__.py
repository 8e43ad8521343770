"""The pack's nodes: thin InvokeAI invocations over the pipeline (fields, outputs, invoke = host -> pipeline -> host)."""

from invokeai.backend.util.logging import InvokeAILogger

from .common import RemoveBackgroundOutput
from .refine_cutout import RefineCutoutInvocation
from .remove_background import RemoveBackgroundInvocation

try:
    from invokeai.app.invocations.fields import VideoField  # noqa: F401  (InvokeAI has videos from 6.14)
except ImportError:
    VIDEO_NODES: tuple[type, ...] = ()
    InvokeAILogger.get_logger().info(
        "Remove Background: this InvokeAI has no videos (they came in 6.14), so Remove Video Background is not "
        "loaded; Remove Background and Refine Cutout are."
    )
else:
    from .remove_video_background import RemoveVideoBackgroundInvocation

    VIDEO_NODES = (RemoveVideoBackgroundInvocation,)

__all__ = ["VIDEO_NODES", "RefineCutoutInvocation", "RemoveBackgroundInvocation", "RemoveBackgroundOutput"]
