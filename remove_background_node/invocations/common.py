"""What the pack's nodes share: their input fields (one definition each), the options those make, the image nodes' output, option checks."""
# No `from __future__ import annotations`: InvokeAI reads the field and return annotations as classes.

from typing import Any, Literal

from invokeai.invocation_api import (
    BaseInvocation,
    BaseInvocationOutput,
    BoundingBoxField,
    ColorField,
    ImageField,
    InputField,
    OutputField,
    invocation_output,
)

from .. import catalog, pipeline
from ..masks import VISIBLE
from ..providers import Device

ModelName = Literal[catalog.MODEL_NAMES]  # type: ignore[valid-type]
TRANSPARENT = ColorField(r=0, g=0, b=0, a=0)


def model() -> Any:
    return InputField(
        default=catalog.DEFAULT_MODEL,
        title="Model",
        description="The segmentation model; read from models/rembg, or downloaded on first use",
        ui_choice_labels={m.name: m.label for m in catalog.MODELS},
    )


def device() -> Any:
    return InputField(
        default="auto",
        title="Device",
        description="auto: the GPU when InvokeAI runs on CUDA and onnxruntime-gpu is installed; "
        "cpu: always the CPU, keeping VRAM free for diffusion",
    )


def mask_threshold() -> Any:
    return InputField(
        default=0, ge=0, le=255, title="Mask Threshold",
        description="0 keeps the soft edge; any other value makes a hard mask: white where the mask is at least this",
    )


def mask_grow() -> Any:
    return InputField(
        default=0, ge=-256, le=256, title="Grow Mask",
        description="Pixels to grow the subject by (negative shrinks it), e.g. to overlap inpainting seams",
    )


def mask_feather() -> Any:
    return InputField(
        default=0.0, ge=0.0, le=256.0, title="Feather",
        description="Pixels over which the mask's edge fades out on each side; a feather wider than the picture softens "
        "the whole mask but keeps its total opacity",
    )


def invert(outputs: str = "the image and the mask") -> Any:
    return InputField(
        default=False, title="Invert", description=f"Keep the background instead of the subject, in both {outputs}",
    )


def background_color(default: ColorField = TRANSPARENT) -> Any:
    return InputField(
        default=default, title="Background Color",
        description="Put the subject over this colour; fully transparent (alpha 0) leaves a cutout",
    )


REFINE_FOREGROUND = (
    "Recover the subject's own colour in soft edges (hair, fur) so the old background does not bleed in; alpha matting "
    "does this by itself (unless inverted)"
)


def refine_foreground(description: str = REFINE_FOREGROUND) -> Any:
    return InputField(default=False, title="Refine Edge Colors", description=description)


def alpha_matting() -> Any:
    return InputField(
        default=False, title="Alpha Matting",
        description="Re-solve soft edges such as hair with closed-form matting (slower)",
    )


def foreground_threshold() -> Any:
    return InputField(
        default=pipeline.FOREGROUND_THRESHOLD, ge=0, le=255, title="Subject Threshold",
        description="Matting: mask values above this are sure subject",
    )


def background_threshold() -> Any:
    return InputField(
        default=pipeline.BACKGROUND_THRESHOLD, ge=0, le=255, title="Background Threshold",
        description="Matting: mask values below this are sure background; must be below the subject threshold",
    )


def erode_size() -> Any:
    return InputField(
        default=pipeline.ERODE_SIZE, ge=0, le=1024, title="Erode Size",
        description="Matting: the side in pixels of the square the sure regions are eroded with (about half that "
        "from each edge), widening the band matting solves; 0: a 3x3 cross, as scipy's default",
    )


def mask_options(node: Any) -> dict[str, Any]:
    """A node with the mask, matting and background fields above -> their pipeline.Options keyword arguments."""
    return dict(
        alpha_matting=node.alpha_matting,
        alpha_matting_foreground_threshold=node.alpha_matting_foreground_threshold,
        alpha_matting_background_threshold=node.alpha_matting_background_threshold,
        alpha_matting_erode_size=node.alpha_matting_erode_size,
        mask_threshold=node.mask_threshold,
        mask_grow=node.mask_grow,
        mask_feather=node.mask_feather,
        invert=node.invert,
        background_color=node.background_color.tuple(),
        refine_foreground=node.refine_foreground,
    )


def thresholds_in_order(node: type[BaseInvocation], data: Any, background_name: str, foreground_name: str) -> Any:
    """A node class, its raw inputs (a whole node's, or on assignment its current inputs with the new value) and its
    threshold fields' names -> the inputs unchanged, or a ValueError naming both thresholds when they cross.

    For a model validator in "before" mode: on assignment (a value arriving through an edge) pydantic then refuses
    the value without storing it. In "after" mode the crossed value was stored first, and InvokeAI, unable to read
    its own session back, left the queue stuck until a restart."""
    if not isinstance(data, dict):
        return data
    try:
        background, foreground = (
            int(data.get(name, node.model_fields[name].default)) for name in (background_name, foreground_name)
        )
    except (TypeError, ValueError):
        return data  # not numbers: the fields' own validation says so
    if background >= foreground:
        raise ValueError(
            f"{background_name} ({background}) must be below {foreground_name} ({foreground}): mask values "
            f"above {foreground_name} are sure subject and values below {background_name} sure background, "
            "so crossed thresholds would erase the subject. Lower the background threshold or raise the other."
        )
    return data


@invocation_output("remove_background_output")
class RemoveBackgroundOutput(BaseInvocationOutput):
    """A cutout with straight alpha, its mask (white = subject), its size and the subject's bounding box."""

    image: ImageField = OutputField(description="The cutout: RGBA, transparent where the background was")
    mask: ImageField = OutputField(description="The mask: white = subject, black = background")
    width: int = OutputField(description="The width of the image in pixels")
    height: int = OutputField(description="The height of the image in pixels")
    bounding_box: BoundingBoxField = OutputField(
        description=f"The box around the visible pixels (mask at least {VISIBLE} of 255); the whole image when none is. "
        "Connect it to Crop Image to Bounding Box or Paste Image into Bounding Box"
    )

    @classmethod
    def build(cls, image_dto: Any, mask_dto: Any, bbox: tuple[int, int, int, int] | None) -> "RemoveBackgroundOutput":
        """The saved cutout and mask and the pipeline's box -> the node's output."""
        x_min, y_min, x_max, y_max = bbox or (0, 0, image_dto.width, image_dto.height)
        return cls(
            image=ImageField(image_name=image_dto.image_name),
            mask=ImageField(image_name=mask_dto.image_name),
            width=image_dto.width,
            height=image_dto.height,
            bounding_box=BoundingBoxField(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max),
        )


__all__ = ["Device", "ModelName", "RemoveBackgroundOutput", "TRANSPARENT", "mask_options", "thresholds_in_order"]
