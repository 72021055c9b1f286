"""mpiheat: classical and quantum heat transport through a particle in a box (Zou et al., PRL 136, 066305 (2026))."""

__version__ = "0.1.0"
