"""The one table of models: name -> rembg session, files, checksum, input size, licence, label.

Everything else (the node's dropdown, its labels, download URLs, checksums, the models CLI and the
README table) is derived from ``MODELS``. Hashes and URLs are rembg 2.0.69's own.
"""

from __future__ import annotations

from dataclasses import dataclass

RELEASE_BASE_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"


@dataclass(frozen=True)
class ModelSpec:
    name: str  # rembg's session name, the dropdown value and the local file stem
    title: str  # the dropdown's name for it ...
    note: str  # ... and what it is for, if the title does not say ("" if it does)
    release_file: str  # the file name in rembg's GitHub release
    checksum: str  # "md5:<hex>" or "sha256:<hex>"
    input_size: int  # the square side the model sees
    size_mb: float  # approximate download size: in the dropdown, and shown while downloading
    licence: str

    @property
    def label(self) -> str:
        """What the dropdown shows, e.g. ``U²-Net (general, 168 MB)``."""
        return f"{self.title} ({self.note + ', ' if self.note else ''}{self.size_mb:g} MB)"

    @property
    def local_file(self) -> str:
        """The file name rembg gives the model locally, e.g. ``u2netp.onnx``."""
        return f"{self.name}.onnx"

    @property
    def file_names(self) -> tuple[str, ...]:
        """Every name under which a hand-placed copy is accepted, preferred first."""
        return tuple(dict.fromkeys((self.local_file, self.release_file)))


_MIT = "MIT"
_APACHE = "Apache-2.0"

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("u2net", "U²-Net", "general", "u2net.onnx",
              "md5:60024c5c889badc19c04ad937298a77b", 320, 168, _APACHE),
    ModelSpec("u2netp", "U²-Net-p", "light", "u2netp.onnx",
              "md5:8e83ca70e441ab06c318d82300c84806", 320, 4.6, _APACHE),
    ModelSpec("u2net_human_seg", "U²-Net human segmentation", "", "u2net_human_seg.onnx",
              "md5:c09ddc2e0104f800e3e1bb4652583d1f", 320, 168, _APACHE),
    ModelSpec("u2net_cloth_seg", "U²-Net cloth segmentation", "", "u2net_cloth_seg.onnx",
              "md5:2434d1f3cb744e0e49386c906e5a08bb", 768, 168, _MIT),
    ModelSpec("silueta", "Silueta", "small U²-Net", "silueta.onnx",
              "md5:55e59e0d8062d2f5d013f4725ee84782", 320, 43, _APACHE),
    ModelSpec("isnet-general-use", "IS-Net general use", "", "isnet-general-use.onnx",
              "md5:fc16ebd8b0c10d971d3513d564d01e29", 1024, 170, _APACHE),
    ModelSpec("isnet-anime", "IS-Net anime", "", "isnet-anime.onnx",
              "md5:6f184e756bb3bd901c8849220a83e38e", 1024, 168, _APACHE),
    ModelSpec("birefnet-general", "BiRefNet general", "",
              "BiRefNet-general-epoch_244.onnx",
              "md5:7a35a0141cbbc80de11d9c9a28f52697", 1024, 928, _MIT),
    ModelSpec("birefnet-general-lite", "BiRefNet general lite", "",
              "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
              "md5:4fab47adc4ff364be1713e97b7e66334", 1024, 214, _MIT),
    ModelSpec("birefnet-portrait", "BiRefNet portrait", "", "BiRefNet-portrait-epoch_150.onnx",
              "md5:c3a64a6abf20250d090cd055f12a3b67", 1024, 928, _MIT),
    ModelSpec("birefnet-dis", "BiRefNet DIS", "dichotomous", "BiRefNet-DIS-epoch_590.onnx",
              "md5:2d4d44102b446f33a4ebb2e56c051f2b", 1024, 928, _MIT),
    ModelSpec("birefnet-hrsod", "BiRefNet HRSOD", "high-res salient",
              "BiRefNet-HRSOD_DHU-epoch_115.onnx",
              "md5:c017ade5de8a50ff0fd74d790d268dda", 1024, 928, _MIT),
    ModelSpec("birefnet-cod", "BiRefNet COD", "camouflaged", "BiRefNet-COD-epoch_125.onnx",
              "md5:f6d0d21ca89d287f17e7afe9f5fd3b45", 1024, 928, _MIT),
    ModelSpec("birefnet-massive", "BiRefNet massive", "",
              "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx",
              "md5:33e726a2136a3d59eb0fdf613e31e3e9", 1024, 928, _MIT),
    ModelSpec("bria-rmbg", "BRIA RMBG 2.0", "non-commercial licence", "bria-rmbg-2.0.onnx",
              "sha256:5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958",
              1024, 1024, "CC BY-NC 4.0 (non-commercial)"),
)

BY_NAME: dict[str, ModelSpec] = {m.name: m for m in MODELS}
MODEL_NAMES: tuple[str, ...] = tuple(BY_NAME)
DEFAULT_MODEL = "u2net"
CLOTH_MODEL = "u2net_cloth_seg"


def get(name: str) -> ModelSpec:
    """Model name -> its spec; a ValueError that lists the valid names for anything else."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"Unknown background-removal model {name!r}. Choose one of: {', '.join(MODEL_NAMES)}."
        ) from None
