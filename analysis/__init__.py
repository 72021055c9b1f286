"""Figures of the Letter from mpiheat results files (``python -m analysis.figN RESULT.h5 --out DIR``)."""
