"""BiFeO3 as refined: the R3c structure from published coordinates, and its pseudocubic cell for [100]pc imaging.

The source (:data:`PALEWICZ_2007`): Palewicz et al., Acta Cryst. B63, 537 (2007), neutron powder
diffraction at 298 K, space group R3c in hexagonal axes, a = 5.57882(5) A, c = 13.86932(16) A;
Bi (0, 0, 0), Fe (0, 0, 0.22021(10)), O (0.4469(3), 0.0181(4), 0.95183(14)). ASE's space-group
code expands it (:func:`r3c_hexagonal`, 30 atoms).

The pseudocubic (pc) cell doubles the perovskite cube along each axis (the a-a-a- tilts repeat
every two cells): its edges are r2 + r3 - r1 and cyclic of the rhombohedral primitive vectors,
2 a_pc long, 89.43 deg apart, hexagonal c along pc [111]. Periodic multislice needs an orthogonal
cell, so :func:`r3c_pseudocubic` makes it a cube of the same volume, each atom keeping its
fractional coordinates, except Fe, which keeps its refined offset from its Bi cage (the strain
alone would shorten that by 1.0%, since it shortens [111] against the other directions). That
homogeneous strain (the rhombohedral distortion, 0.57 deg) is the one approximation here; what it
changes, measured against the hexagonal structure (``tests/test_bfo_r3c.py``): volume none, the
Fe-O bonds 1.953 / 2.105 A by 0.3% each, the Fe-O-Fe angle (155.4 deg: the tilts) by 0.08 deg,
delta_FeBi none.

delta_FeBi, the projected offset of an Fe column from the mean of its four Bi columns
(:mod:`stem_datasets.physics.polarization`), follows from the refinement alone: Fe sits
(1/4 - z_Fe) c = 41.3 pm from the centre of its Bi cage, against the direction of hexagonal c
(:func:`fe_offset_pm`), so down [100]pc each image component is 41.3 / sqrt(3) = 23.9 pm and the
projected magnitude 33.7 pm. The eight domain variants are the cube's mirror images
(``variant``: the signs of delta_FeBi along pc x, y, z; the tilts mirror with it).

Example:
    >>> cell = r3c_pseudocubic(variant=(1, -1, 1))
    >>> len(cell), round(float(cell.cell[0, 0]) / 2, 4)  # 8 formula units; a_pc = (V / 6)^(1/3) of the source
    (40, 3.9644)
    >>> round(fe_offset_pm(), 1), round(rhombohedral_angle_deg(), 2)
    (41.3, 89.43)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import make_supercell
from ase.spacegroup import crystal

# Rows: the doubled pc edges as combinations of the rhombohedral primitive vectors (face diagonals of the cube).
PRIMITIVE_TO_PC = np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])


@dataclass(frozen=True)
class R3cRefinement:
    """A published R3c BiFeO3 refinement in hexagonal axes: cell [A], fractional Fe z and O (x, y, z)."""

    a: float
    c: float
    fe_z: float
    o_xyz: tuple[float, float, float]
    source: str
    temperature_K: float


PALEWICZ_2007 = R3cRefinement(
    a=5.57882, c=13.86932, fe_z=0.22021, o_xyz=(0.4469, 0.0181, 0.95183), temperature_K=298.0,
    source="Palewicz et al., Acta Cryst. B63, 537 (2007): R3c, neutron powder diffraction, 298 K")


def pc_lattice_constant(ref: R3cRefinement = PALEWICZ_2007) -> float:
    """a_pc [A]: the edge of a cube holding one formula unit of the refined cell, (V_hex / 6)^(1/3).

    >>> round(pc_lattice_constant(), 4)
    3.9644
    """
    return float((ref.a ** 2 * np.sqrt(3) / 2 * ref.c / 6) ** (1 / 3))


def r3c_hexagonal(ref: R3cRefinement = PALEWICZ_2007, primitive: bool = False) -> Atoms:
    """The refined structure in its hexagonal cell (30 atoms; ``primitive``: the rhombohedral cell, 10 atoms)."""
    atoms = crystal(["Bi", "Fe", "O"], basis=[(0.0, 0.0, 0.0), (0.0, 0.0, ref.fe_z), ref.o_xyz], spacegroup=161,
                    cellpar=[ref.a, ref.a, ref.c, 90, 90, 120], primitive_cell=primitive)
    atoms.info.update(source=ref.source, space_group="R3c")
    return atoms


def _pseudocubic_rhombohedral(ref: R3cRefinement) -> Atoms:
    """The refined 2 x 2 x 2 pseudocubic cell as it is: edges 2 a_pc long and 89.43 deg apart."""
    return make_supercell(r3c_hexagonal(ref, primitive=True), PRIMITIVE_TO_PC)


def rhombohedral_angle_deg(ref: R3cRefinement = PALEWICZ_2007) -> float:
    """The angle between the pseudocubic edges of the refined cell [deg] (90 for a cube)."""
    return float(_pseudocubic_rhombohedral(ref).cell.cellpar()[3])


def fe_offset_pm(ref: R3cRefinement = PALEWICZ_2007) -> float:
    """How far Fe sits from the centre of its Bi cage [pm], against hexagonal c (pc [111]): (1/4 - z_Fe) c."""
    return (0.25 - ref.fe_z) * ref.c * 100.0


def r3c_pseudocubic(ref: R3cRefinement = PALEWICZ_2007, variant: tuple[int, int, int] = (1, 1, 1)) -> Atoms:
    """The 2 x 2 x 2 pseudocubic cell (40 atoms) as an orthogonal cube of the refined volume (see the module notes).

    ``variant``: the signs of delta_FeBi along pc x, y, z; the structure is mirrored along the axes
    where it must be. Bi sits on the cube's corners; ``info`` records the source, the variant,
    ``lattice_constant_pc`` and the rhombohedral angle the cube replaces.
    """
    signs = np.asarray(variant)
    if signs.shape != (3,) or not np.all(np.isin(signs, (-1, 1))):
        raise ValueError(f"variant must be three signs (sx, sy, sz), each +1 or -1, got {variant!r}.")
    rhombohedral = _pseudocubic_rhombohedral(ref)
    fractional = rhombohedral.get_scaled_positions(wrap=True)
    # Built as is, hexagonal c runs along +[111] and Fe sits off its cage towards -[111]: mirror where the sign is +.
    fractional = np.where(signs > 0, -fractional, fractional) % 1.0
    side = rhombohedral.get_volume() ** (1.0 / 3.0)
    symbols = np.array(rhombohedral.get_chemical_symbols())
    # Fe keeps the refined offset from its cage (the cube's strain would shorten it by 1.0%): Bi sits on {0, 1/2}^3.
    fe = symbols == "Fe"
    cage_centre = (np.floor(fractional[fe] * 2) + 0.5) / 2
    fractional[fe] = cage_centre + signs * fe_offset_pm(ref) / 100.0 / np.sqrt(3) / side
    cube = Atoms(symbols, scaled_positions=fractional, cell=np.eye(3) * side, pbc=True)
    cube.info.update(source=ref.source, variant=tuple(int(s) for s in signs), lattice_constant_pc=side / 2,
                     rhombohedral_angle_deg=float(rhombohedral.cell.cellpar()[3]))
    return cube


def r3c_100(repeats: tuple[int, int], layers: int, variant: tuple[int, int, int] = (1, 1, 1),
            ref: R3cRefinement = PALEWICZ_2007) -> Atoms:
    """R3c BiFeO3 down [100]pc: :func:`r3c_pseudocubic` repeated, the beam along pc x turned onto z.

    Image x = pc y, image y = pc z (as :func:`stem_datasets.physics.lattices.bifeo3_100`); ``repeats``
    (nx, ny) and ``layers`` count the 2 x 2 x 2 cell (2 a_pc). Bi columns sit at multiples of a_pc.

    >>> atoms = r3c_100((2, 2), 3, variant=(1, 1, -1))
    >>> len(atoms), [round(float(v), 2) for v in atoms.cell.lengths()]
    (480, [15.86, 15.86, 23.79])
    """
    if not all(int(n) == n and n >= 1 for n in (*repeats, layers)) or len(repeats) != 2:
        raise ValueError(f"repeats (nx, ny) and layers count whole 2 a_pc cells, each >= 1; got {repeats!r}, {layers!r}.")
    cube = r3c_pseudocubic(ref, variant)
    down_x = Atoms(cube.get_chemical_symbols(), positions=cube.positions[:, [1, 2, 0]],
                   cell=np.diag(np.diag(cube.cell)[[1, 2, 0]]), pbc=True)
    atoms = down_x.repeat((int(repeats[0]), int(repeats[1]), int(layers)))
    atoms.info.update(cube.info, zone="BiFeO3 [100]pc", family="perovskite")
    return atoms
