"""Cell types of the demo tissue: how each looks on H&E and which genes mark it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CellType:
    name: str
    density_per_mm2: float  # nuclei per mm^2 where this type fills the tissue
    nucleus_um: tuple[float, float]  # nucleus semi-axes (um)
    nucleus_rgb: tuple[int, int, int]  # haematoxylin shade of the nucleus
    stroma_rgb: tuple[int, int, int]  # colour of the surrounding cytoplasm / matrix
    fibre: float  # strength of fibrous eosin texture
    vacuole_um: float  # radius of a clear lipid vacuole around the nucleus (adipocytes), 0 = none
    umi_per_cell: float  # expected UMIs a cell contributes to a spot
    markers: tuple[str, ...]


CELL_TYPES: tuple[CellType, ...] = (
    CellType(
        "Tumour_epithelial",
        6000,
        (4.5, 3.5),
        (70, 40, 120),
        (205, 150, 195),
        0.0,
        0.0,
        900,
        ("EPCAM", "KRT8", "KRT18", "KRT19", "ERBB2", "GRB7", "CDH1", "MUC1", "CLDN4", "ESR1"),
    ),
    CellType(
        "Fibroblast",
        1800,
        (4.0, 1.4),
        (95, 55, 135),
        (238, 165, 200),
        1.0,
        0.0,
        500,
        ("COL1A1", "COL1A2", "COL3A1", "DCN", "LUM", "FAP", "PDGFRB", "SPARC", "POSTN", "FN1"),
    ),
    CellType(
        "T_cell",
        11000,
        (2.4, 2.2),
        (45, 25, 95),
        (215, 175, 210),
        0.0,
        0.0,
        300,
        ("CD3E", "CD3D", "CD2", "CD8A", "IL7R", "PTPRC", "GZMK", "CCL5", "TRAC", "CD247"),
    ),
    CellType(
        "Macrophage",
        3200,
        (3.6, 2.8),
        (110, 80, 150),
        (228, 190, 205),
        0.2,
        0.0,
        700,
        ("CD68", "CD163", "LYZ", "C1QA", "C1QB", "APOE", "AIF1", "FCGR3A", "MRC1", "TYROBP"),
    ),
    CellType(
        "Endothelial",
        2200,
        (3.8, 1.2),
        (90, 50, 120),
        (215, 110, 125),
        0.3,
        0.0,
        450,
        ("PECAM1", "VWF", "CDH5", "CLDN5", "EMCN", "PLVAP", "KDR", "ENG", "RAMP2", "AQP1"),
    ),
    CellType(
        "Adipocyte",
        350,
        (2.2, 1.5),
        (110, 70, 140),
        (250, 244, 246),
        0.0,
        24.0,
        250,
        ("ADIPOQ", "PLIN1", "FABP4", "LEP", "LPL", "CIDEA", "CIDEC", "PPARG", "CD36", "GPD1"),
    ),
)
