"""The image scale: what a model sees, ``px`` pixels a side at ``um_per_px`` micrometres per pixel.

One object from the config to the cut files, training, inference, bundles and the applicability
check. A run has the scale of its tiles (``tiling``), the default scale of its spot patches
(``patches``), and optionally one scale per model branch (``expression_models.patches``,
``cell_type_models.patches``) when a branch learns from another field of view than the other
(``RunScales``). Each distinct scale is cut once."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..models.registry import SECTIONS

BRANCHES = tuple(SECTIONS.values())  # the model branches' config sections


@dataclass(frozen=True)
class ImageScale:
    um_per_px: float = 0.5
    px: int = 224

    @classmethod
    def from_config(cls, section: dict) -> "ImageScale":
        """From a config section with ``um_per_px`` and ``px`` (other keys ignored)."""
        return cls(float(section["um_per_px"]), int(section["px"]))

    @property
    def field_um(self) -> float:
        """The side of the field of view, in micrometres."""
        return self.um_per_px * self.px

    @property
    def key(self) -> str:
        """A folder name for files cut at this scale (e.g. ``224px_0.74um``)."""
        return f"{self.px}px_{self.um_per_px:g}um"

    def describe(self) -> str:
        return f"{self.px} px at {self.um_per_px:g} um/px ({self.field_um:g} um)"

    def same_field(self, other: "ImageScale") -> bool:
        return math.isclose(self.field_um, other.field_um, rel_tol=1e-6)

    def same_as(self, other: "ImageScale") -> bool:
        return self.px == other.px and math.isclose(self.um_per_px, other.um_per_px, rel_tol=1e-6)

    def as_dict(self) -> dict:
        return {"um_per_px": self.um_per_px, "px": self.px}


@dataclass(frozen=True)
class RunScales:
    """The scales of one run: its tiles, its default spot patches, and each model branch's patches."""

    tiles: ImageScale
    patches: ImageScale
    branches: dict  # branch (config section) -> ImageScale, only where a branch sets its own

    @classmethod
    def from_config(cls, config: dict) -> "RunScales":
        branches = {
            b: ImageScale.from_config(config[b]["patches"]) for b in BRANCHES if config.get(b, {}).get("patches")
        }
        return cls(ImageScale.from_config(config["tiling"]), ImageScale.from_config(config["patches"]), branches)

    def patches_of(self, branch: str) -> ImageScale:
        """The scale of the spot patches a branch learns from and predicts."""
        return self.branches.get(branch, self.patches)

    def tiles_of(self, branch: str) -> ImageScale:
        """The scale of the tiles a branch maps whole slides on: the run's tiles when they cover
        the branch's field of view (resized to its pixel count), else tiles cut at its scale."""
        scale = self.patches_of(branch)
        return self.tiles if self.tiles.same_field(scale) else scale

    def patch_folder(self, branch: str) -> str:
        """The patch files' folder below ``patches/``: "" for the default scale, else the scale's key."""
        scale = self.patches_of(branch)
        return "" if scale.same_as(self.patches) else scale.key

    def tile_folder(self, branch: str) -> str:
        """The tile files' folder below ``tiles/``: "" for the run's tiles, else the scale's key."""
        scale = self.tiles_of(branch)
        return "" if scale.same_as(self.tiles) else scale.key

    def by_key(self) -> dict[str, ImageScale]:
        """Every extra scale (patches or tiles cut outside the default folders), by folder name."""
        extra = {}
        for branch in BRANCHES:
            for scale, folder in (
                (self.patches_of(branch), self.patch_folder(branch)),
                (self.tiles_of(branch), self.tile_folder(branch)),
            ):
                if folder:
                    extra[folder] = scale
        return extra

    @property
    def finest_um(self) -> float:
        """The finest pixel size any file of the run is cut at (for the upsampling check)."""
        return min(s.um_per_px for s in (self.tiles, self.patches, *self.branches.values()))

    def keyed(self) -> dict[str, ImageScale]:
        """Every scale of the run by the config section that sets it (``tiling``, ``patches``,
        ``<branch>.patches``), for messages that name the key to change."""
        return {"tiling": self.tiles, "patches": self.patches} | {f"{b}.patches": s for b, s in self.branches.items()}

    def finest_key(self) -> str:
        """The config section of the finest pixel size (the first, on a tie)."""
        return min(self.keyed().items(), key=lambda kv: kv[1].um_per_px)[0]

    def widest(self) -> tuple[str, ImageScale]:
        """The config section of the widest field of view, and its scale."""
        return max(self.keyed().items(), key=lambda kv: kv[1].field_um)
