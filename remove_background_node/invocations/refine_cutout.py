"""The Refine Cutout node: alpha matting on a mask from anywhere (Segment Anything, the canvas, Remove Background)."""
# No `from __future__ import annotations`: InvokeAI reads invoke()'s return annotation as a class.

from typing import Any, Optional

from invokeai.invocation_api import (
    BaseInvocation,
    Classification,
    ColorField,
    ImageField,
    InputField,
    InvocationContext,
    WithBoard,
    WithMetadata,
    invocation,
)
from pydantic import model_validator

from .. import pipeline
from ..mask_cache import MASKS
from . import common
from .common import RemoveBackgroundOutput


@invocation(
    "refine_cutout",
    title="Refine Cutout",
    tags=["image", "background", "mask", "matting", "trimap", "segment anything", "cutout"],
    category="image",
    version="1.0.0",
    classification=Classification.Stable,
)
class RefineCutoutInvocation(BaseInvocation, WithMetadata, WithBoard):
    """Refine a mask's edge with alpha matting: soft hair and fur from a hard mask (Segment Anything, the canvas), or
    from a trimap; outputs the cutout, its mask and the subject's box, as Remove Background does."""

    image: ImageField = InputField(title="Image", description="The image the mask belongs to")
    mask: ImageField = InputField(
        title="Mask",
        description="White = subject: soft or hard, from Segment Anything (through Tensor Mask to Image), the canvas, "
        "Remove Background or anything else; on a transparent layer, unpainted is background. Resized to the image if "
        "its size differs",
    )
    trimap: Optional[ImageField] = InputField(
        default=None,
        title="Trimap",
        description="Optional: 255 = sure subject, 0 = sure background, anything else = unknown (solved by matting). "
        "When given it replaces the band built from the mask and the thresholds; painted on a transparent layer, "
        "unpainted is sure background",
    )
    foreground_threshold: int = common.foreground_threshold()
    background_threshold: int = common.background_threshold()
    erode_size: int = common.erode_size()
    refine_foreground: bool = common.refine_foreground(
        "Recover the subject's own colour in soft edges when matting is skipped (matting re-estimates them by itself)"
    )
    background_color: ColorField = common.background_color()

    @model_validator(mode="before")
    @classmethod
    def _thresholds_in_order(cls, data: Any) -> Any:
        return common.thresholds_in_order(cls, data, "background_threshold", "foreground_threshold")

    def invoke(self, context: InvocationContext) -> RemoveBackgroundOutput:
        from ..host import Host

        host = Host(context, node="Refine Cutout")
        image = host.load_image(self.image)
        mask = host.load_image(self.mask, "mask")
        trimap = host.load_image(self.trimap, "trimap") if self.trimap is not None else None
        options = pipeline.Options(
            alpha_matting=True,
            alpha_matting_foreground_threshold=self.foreground_threshold,
            alpha_matting_background_threshold=self.background_threshold,
            alpha_matting_erode_size=self.erode_size,
            refine_foreground=self.refine_foreground,
            background_color=self.background_color.tuple(),
        )
        result = pipeline.refine_cutout(image, mask, trimap, options, host.step, host.warn, MASKS)
        return RemoveBackgroundOutput.build(*host.save(result), result.bbox)
