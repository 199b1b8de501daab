"""Typed microscope and multislice settings for STEM simulations.

Example:
    >>> m = Microscope(defocus=20.0)
    >>> m.energy, m.semiangle, m.abf_detector
    (200000.0, 30.0, (15.0, 30.0))
    >>> m.usable_max_angle_mrad() > m.abf_detector[1]
    True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

# Root-mean-square thermal displacement along one Cartesian direction (A) at 300 K,
# sigma = sqrt(B / (8 pi^2)) with Debye-Waller factors typical of room-temperature
# refinements of these oxides (B ~ 0.35 A^2 for Ti/Al, 0.4-0.6 A^2 for A-cations and O).
# An approximation stated here so that every frozen-phonon run says what it used.
THERMAL_SIGMAS_300K: dict[str, float] = {
    "Sr": 0.084,  # B = 0.55 A^2
    "Ca": 0.084,
    "La": 0.075,  # B = 0.45 A^2
    "Ti": 0.067,  # B = 0.35 A^2
    "Al": 0.067,
    "O": 0.087,  # B = 0.60 A^2
    "Bi": 0.087,  # B = 0.6 A^2 (BiFeO3)
    "Sm": 0.087,
    "Fe": 0.067,  # B = 0.35 A^2
    "Si": 0.076,  # B = 0.46 A^2, Flensburg & Stewart, Phys. Rev. B 60, 284 (1999)
    "C": 0.062,  # in-plane, graphene at 300 K (B ~ 0.3 A^2)
    "Mo": 0.050,  # B ~ 0.2 A^2 (MoS2)
    "W": 0.050,
    "S": 0.062,  # B ~ 0.3 A^2
}


@dataclass(frozen=True)
class Microscope:
    """Probe, detectors and multislice numerics, with the seed paper's defaults.

    Angles in mrad, lengths in angstrom, energy in eV. Aberrations use abTEM's polar
    names: ``defocus`` (C10 = -defocus), two-fold astigmatism ``C12``/``phi12`` and
    axial coma ``C21``/``phi21``. ``mistilt`` tilts the beam against the zone axis.
    ``frozen_phonons = 0`` means a static lattice (no thermal displacements).
    """

    energy: float = 200e3
    semiangle: float = 30.0
    defocus: float = 0.0
    C12: float = 0.0
    phi12: float = 0.0
    C21: float = 0.0
    phi21: float = 0.0
    mistilt: tuple[float, float] = (0.0, 0.0)
    abf_detector: tuple[float, float] = (15.0, 30.0)
    haadf_detector: tuple[float, float] = (70.0, 200.0)
    potential_sampling: float = 0.05
    scan_step: float = 0.2
    frozen_phonons: int = 8
    temperature_K: float = 300.0
    thermal_sigmas: dict[str, float] = field(default_factory=lambda: dict(THERMAL_SIGMAS_300K))
    seed: int = 0

    def __post_init__(self) -> None:
        numbers = {
            "energy": self.energy, "semiangle": self.semiangle, "potential_sampling": self.potential_sampling,
            "scan_step": self.scan_step,
        }
        for name, value in numbers.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"Microscope.{name} must be a positive finite number, got {value!r}.")
        for name in ("defocus", "C12", "phi12", "C21", "phi21"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"Microscope.{name} must be finite, got {getattr(self, name)!r}.")
        for name in ("abf_detector", "haadf_detector"):
            inner, outer = getattr(self, name)
            if not 0 <= inner < outer:
                raise ValueError(f"Microscope.{name} must be (inner, outer) mrad with 0 <= inner < outer, got {(inner, outer)}.")
        if self.frozen_phonons < 0:
            raise ValueError(f"Microscope.frozen_phonons must be >= 0, got {self.frozen_phonons}.")
        if self.temperature_K != 300.0 and self.frozen_phonons:
            raise ValueError("Thermal displacements are tabulated for 300 K only; set temperature_K=300.")

    @property
    def wavelength(self) -> float:
        """Relativistic electron wavelength [A]."""
        m0c2, hc = 510998.95, 12398.4198
        return hc / math.sqrt(self.energy * (2 * m0c2 + self.energy))

    def usable_max_angle_mrad(self) -> float:
        """Largest scattering angle the potential sampling represents (2/3 of Nyquist)."""
        return 1e3 * self.wavelength / (2 * self.potential_sampling) * 2 / 3

    def aberrations(self) -> dict[str, float]:
        """The aberration coefficients in abTEM's polar notation."""
        return {"C10": -self.defocus, "C12": self.C12, "phi12": self.phi12, "C21": self.C21, "phi21": self.phi21}

    def replace(self, **changes) -> "Microscope":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain-JSON description (used in cache keys and dataset metadata)."""
        d = dataclasses.asdict(self)
        d["mistilt"] = list(self.mistilt)
        d["abf_detector"] = list(self.abf_detector)
        d["haadf_detector"] = list(self.haadf_detector)
        return d
