"""Remove Background: an InvokeAI node pack that cuts subjects out of images with rembg's models.

InvokeAI imports this package at start-up; importing it only registers the nodes. rembg,
pymatting and numba are imported the first time a node runs.
"""

from invokeai.version import __version__ as _invokeai_version

OLDEST_INVOKEAI = (5, 0, 0)  # the oldest InvokeAI the pack runs on (make test-compat)


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("+")[0].split(".")[:3] if p.isdigit())


if _release(_invokeai_version) < OLDEST_INVOKEAI:
    from invokeai.backend.util.logging import InvokeAILogger

    InvokeAILogger.get_logger().error(
        f"Remove Background needs InvokeAI {'.'.join(map(str, OLDEST_INVOKEAI))} or later; this is InvokeAI "
        f"{_invokeai_version}, so its nodes are not loaded. Upgrade InvokeAI to use them."
    )
    __all__: list[str] = []
else:
    from .invocations import VIDEO_NODES, RefineCutoutInvocation, RemoveBackgroundInvocation, RemoveBackgroundOutput

    __all__ = ["VIDEO_NODES", "RefineCutoutInvocation", "RemoveBackgroundInvocation", "RemoveBackgroundOutput"]
