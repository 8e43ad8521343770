"""The Remove Background node: an image and a model in; a cutout, its mask, size and bounding box out.

Type, input names and outputs match the older community node of the same name, and the major
version stays 1, so InvokeAI updates workflows saved with that node by itself.
"""
# No `from __future__ import annotations`: InvokeAI reads invoke()'s return annotation as a class.

from typing import Any, Literal, Optional

from invokeai.invocation_api import (
    BaseInvocation,
    BoundingBoxField,
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
from .common import Device, ModelName, RemoveBackgroundOutput

ClothCategory = Literal["all", "upper", "lower", "full"]


@invocation(
    "remove_background",
    title="Remove Background",
    tags=["image", "background", "mask", "rembg", "cutout"],
    category="image",
    version="1.4.0",
    classification=Classification.Stable,
)
class RemoveBackgroundInvocation(BaseInvocation, WithMetadata, WithBoard):
    """Cut the subject out of an image with a rembg model; outputs the cutout, its mask and the subject's box."""

    # In the order a person works; the options apply in the order of pipeline.STEPS.
    image: ImageField = InputField(title="Image", description="The image to remove the background from")
    model: ModelName = common.model()
    cloth_category: ClothCategory = InputField(
        default="all",
        title="Cloth Category",
        description="Only for the cloth model (u2net_cloth_seg): which clothes to keep: all (the three together), upper "
        "body, lower body or full body",
        ui_choice_labels={"all": "All clothes", "upper": "Upper body", "lower": "Lower body", "full": "Full body"},
    )
    bounding_boxes: Optional[list[BoundingBoxField]] = InputField(
        default=None,
        title="Bounding Boxes",
        description="Optional regions to look in, e.g. from Grounding DINO: the model runs on each box (with a margin of "
        "context) and everything outside the boxes is background. Overlapping boxes share one run of the model",
    )
    mask_threshold: int = common.mask_threshold()
    mask_grow: int = common.mask_grow()
    mask_feather: float = common.mask_feather()
    invert: bool = common.invert()
    background_color: ColorField = common.background_color()
    refine_foreground: bool = common.refine_foreground()
    alpha_matting: bool = common.alpha_matting()
    alpha_matting_foreground_threshold: int = common.foreground_threshold()
    alpha_matting_background_threshold: int = common.background_threshold()
    alpha_matting_erode_size: int = common.erode_size()
    post_process_mask: bool = InputField(
        default=False, title="Smooth Mask",
        description="Smooth the mask and make it hard (0 or 255): removes specks, loses soft edges",
    )
    device: Device = common.device()

    @model_validator(mode="before")
    @classmethod
    def _thresholds_in_order(cls, data: Any) -> Any:
        return common.thresholds_in_order(cls, data, "alpha_matting_background_threshold", "alpha_matting_foreground_threshold")

    def invoke(self, context: InvocationContext) -> RemoveBackgroundOutput:
        from ..host import Host

        host = Host(context)
        image = host.load_image(self.image)
        options = pipeline.Options(
            **common.mask_options(self),
            post_process_mask=self.post_process_mask,
            regions=None if self.bounding_boxes is None else tuple((b.x_min, b.y_min, b.x_max, b.y_max) for b in self.bounding_boxes),
        )
        predict, model_key = host.model(self.model, self.device, self.cloth_category)
        result = pipeline.remove_background(image, predict, options, host.step, host.warn, model_key, MASKS)
        return RemoveBackgroundOutput.build(*host.save(result), result.bbox)
