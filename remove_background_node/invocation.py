"""The InvokeAI node: typed fields and outputs; invoke() is host -> pipeline -> host.

Type, input names and outputs match the older community node of the same name, and the major
version stays 1, so InvokeAI updates workflows saved with that node by itself.
"""
# No `from __future__ import annotations` here: InvokeAI reads invoke()'s return annotation as a class.


from typing import Literal

from invokeai.invocation_api import (
    BaseInvocation,
    BaseInvocationOutput,
    BoundingBoxField,
    Classification,
    ColorField,
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
from .providers import Device

ModelName = Literal[catalog.MODEL_NAMES]  # type: ignore[valid-type]
ClothCategory = Literal["all", "upper", "lower", "full"]
TRANSPARENT = ColorField(r=0, g=0, b=0, a=0)


@invocation_output("remove_background_output")
class RemoveBackgroundOutput(BaseInvocationOutput):
    """A cutout with straight alpha, its mask (white = subject), its size and the subject's bounding box."""

    image: ImageField = OutputField(description="The cutout: RGBA, transparent where the background was")
    mask: ImageField = OutputField(description="The mask: white = subject, black = background")
    width: int = OutputField(description="The width of the image in pixels")
    height: int = OutputField(description="The height of the image in pixels")
    bounding_box: BoundingBoxField = OutputField(
        description="The box around the kept pixels (mask > 0); the whole image when nothing is kept. "
        "Connect it to Crop Image to Bounding Box or Paste Image into Bounding Box"
    )


@invocation(
    "remove_background",
    title="Remove Background",
    tags=["image", "background", "mask", "rembg", "cutout"],
    category="image",
    version="1.3.0",
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
    # Applied in this order after the model and matting: threshold -> grow -> feather -> invert -> composite.
    mask_threshold: int = InputField(
        default=0, ge=0, le=255,
        description="0 keeps the soft edge; any other value makes a hard mask: white where the mask is at least this",
    )
    mask_grow: int = InputField(
        default=0, ge=-256, le=256,
        description="Pixels to grow the subject by (negative shrinks it), e.g. to overlap inpainting seams",
    )
    mask_feather: float = InputField(
        default=0.0, ge=0.0, le=256.0, description="Pixels over which the mask's edge fades out on each side"
    )
    invert: bool = InputField(
        default=False, description="Keep the background instead of the subject, in both the image and the mask"
    )
    background_color: ColorField = InputField(
        default=TRANSPARENT,
        description="Put the subject over this colour; fully transparent (alpha 0) leaves a cutout",
    )
    refine_foreground: bool = InputField(
        default=False,
        description="Recover the subject's own colour in soft edges (hair, fur) so the old background does not bleed in. Fast",
    )
    cloth_category: ClothCategory = InputField(
        default="all",
        description="Only for the cloth model (u2net_cloth_seg): which clothes to keep; all = the three together",
        ui_choice_labels={"all": "All clothes", "upper": "Upper body", "lower": "Lower body", "full": "Full body"},
    )

    device: Device = InputField(
        default="auto",
        description="auto: the GPU when InvokeAI runs on CUDA and onnxruntime-gpu is installed; "
        "cpu: always the CPU, keeping VRAM free for diffusion",
    )

    def invoke(self, context: InvocationContext) -> RemoveBackgroundOutput:
        from .host import Host
        from .sessions import predictor

        host = Host(context)
        image = host.load_image(self.image)
        session = host.session(self.model, self.device)
        options = pipeline.Options(
            alpha_matting=self.alpha_matting,
            alpha_matting_foreground_threshold=self.alpha_matting_foreground_threshold,
            alpha_matting_background_threshold=self.alpha_matting_background_threshold,
            alpha_matting_erode_size=self.alpha_matting_erode_size,
            post_process_mask=self.post_process_mask,
            mask_threshold=self.mask_threshold,
            mask_grow=self.mask_grow,
            mask_feather=self.mask_feather,
            invert=self.invert,
            background_color=self.background_color.tuple(),
            refine_foreground=self.refine_foreground,
        )
        # rembg's cloth model returns the upper, lower and full masks when given no category,
        # and the pipeline unites them; other models take no category.
        kwargs = {"cc": self.cloth_category} if self.model == catalog.CLOTH_MODEL and self.cloth_category != "all" else {}
        result = pipeline.remove_background(image, predictor(session, **kwargs), options, host.step)
        image_dto, mask_dto = host.save(result)
        x_min, y_min, x_max, y_max = result.bbox or (0, 0, image_dto.width, image_dto.height)
        return RemoveBackgroundOutput(
            image=ImageField(image_name=image_dto.image_name),
            mask=ImageField(image_name=mask_dto.image_name),
            width=image_dto.width,
            height=image_dto.height,
            bounding_box=BoundingBoxField(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max),
        )
