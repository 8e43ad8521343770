"""The InvokeAI node: typed fields and outputs; invoke() is host -> pipeline -> host.

Type, input names and outputs match the older community node of the same name, and the major
version stays 1, so InvokeAI updates workflows saved with that node by itself.
"""
# No `from __future__ import annotations` here: InvokeAI reads invoke()'s return annotation as a class.


from typing import Literal

from invokeai.invocation_api import (
    BaseInvocation,
    BaseInvocationOutput,
    Classification,
    ImageField,
    InputField,
    InvocationContext,
    OutputField,
    WithBoard,
    WithMetadata,
    invocation,
    invocation_output,
)

from . import catalog, pipeline

ModelName = Literal[catalog.MODEL_NAMES]  # type: ignore[valid-type]


@invocation_output("remove_background_output")
class RemoveBackgroundOutput(BaseInvocationOutput):
    """A cutout with straight alpha, its mask (white = subject) and its size."""

    image: ImageField = OutputField(description="The cutout: RGBA, transparent where the background was")
    mask: ImageField = OutputField(description="The mask: white = subject, black = background")
    width: int = OutputField(description="The width of the image in pixels")
    height: int = OutputField(description="The height of the image in pixels")


@invocation(
    "remove_background",
    title="Remove Background",
    tags=["image", "background", "mask", "rembg", "cutout"],
    category="image",
    version="1.1.0",
    classification=Classification.Stable,
)
class RemoveBackgroundInvocation(BaseInvocation, WithMetadata, WithBoard):
    """Cut the subject out of an image with a rembg model; outputs the cutout and its mask."""

    image: ImageField = InputField(description="The image to remove the background from")
    model: ModelName = InputField(
        default=catalog.DEFAULT_MODEL,
        description="The segmentation model; it is downloaded on first use, or read from models/rembg",
        ui_choice_labels={m.name: m.label for m in catalog.MODELS},
    )
    alpha_matting: bool = InputField(default=False, description="Refine soft edges such as hair with alpha matting")
    alpha_matting_foreground_threshold: int = InputField(
        default=pipeline.FOREGROUND_THRESHOLD, ge=0, le=255,
        description="Mask values above this are sure subject when matting",
    )
    alpha_matting_background_threshold: int = InputField(
        default=pipeline.BACKGROUND_THRESHOLD, ge=0, le=255,
        description="Mask values below this are sure background when matting",
    )
    alpha_matting_erode_size: int = InputField(
        default=pipeline.ERODE_SIZE, ge=0, le=1024,
        description="How far (pixels) the sure regions are eroded: a wider band for the matting to solve",
    )
    post_process_mask: bool = InputField(
        default=False, description="Smooth the mask and make it hard (0 or 255): removes specks, loses soft edges"
    )

    def invoke(self, context: InvocationContext) -> RemoveBackgroundOutput:
        from .host import Host, predictor

        host = Host(context)
        image = host.load_image(self.image)
        session = host.session(self.model)
        options = pipeline.Options(
            alpha_matting=self.alpha_matting,
            alpha_matting_foreground_threshold=self.alpha_matting_foreground_threshold,
            alpha_matting_background_threshold=self.alpha_matting_background_threshold,
            alpha_matting_erode_size=self.alpha_matting_erode_size,
            post_process_mask=self.post_process_mask,
        )
        result = pipeline.remove_background(image, predictor(session), options, host.step)
        image_dto, mask_dto = host.save(result)
        return RemoveBackgroundOutput(
            image=ImageField(image_name=image_dto.image_name),
            mask=ImageField(image_name=mask_dto.image_name),
            width=image_dto.width,
            height=image_dto.height,
        )
