"""TOML in and out: reading a job file or text into tables (with ``--set`` overrides) and writing the resolved job.

``tomllib`` only reads; the small writer below covers what job files hold (scalars, lists, inline tables).
"""

from __future__ import annotations

import math
import os
import tomllib
from typing import Any

from mpiheat.config.checks import JobError, Sweep


def _parse_override(source: str, item: str) -> tuple[str, str, Any]:
    if "=" not in item:
        raise JobError("--set", item, "expected section.key=value")
    lhs, rhs = item.split("=", 1)
    lhs = lhs.strip()
    if lhs.count(".") != 1:
        raise JobError("--set", lhs, "expected section.key (e.g. classical.collisions)")
    sec, key = lhs.split(".")
    try:
        value = tomllib.loads(f"v = {rhs}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs.strip()  # bare words are strings: --set bath.model=mcmc
    return sec, key, value


def parse_text(text: str, source: str = "<job>", overrides: list[str] | tuple = (),
               output: str | None = None) -> dict:
    """Job TOML text -> tables, with ``section.key=value`` overrides and the output path applied (not validated)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise JobError(source, "TOML", f"not valid TOML ({e})") from None
    for item in overrides:
        sec, key, value = _parse_override(source, item)
        data.setdefault(sec, {})
        if not isinstance(data[sec], dict):
            raise JobError(source, f"[{sec}]", "is not a table")
        data[sec][key] = value
    if output is not None:
        data.setdefault("job", {})["output"] = output
    return data


def read_text(path: str | os.PathLike) -> str:
    """The text of a job file; a missing or unreadable file is a :class:`JobError`."""
    source = str(path)
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8")
    except FileNotFoundError:
        raise JobError(source, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise JobError(source, "file", f"cannot read ({e})") from None


# --------------------------------------------------------------------------------------------------------------------
# A small TOML writer for the resolved job.


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, Sweep):
        return toml_value(list(v.values) if v.is_list else v.value)
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dump_toml(data: dict) -> str:
    """Write a dict of tables as TOML (enough for job files: scalars, lists, inline tables)."""
    out = []
    for sec, table in data.items():
        out.append(f"[{sec}]")
        for k, v in table.items():
            out.append(f"{k} = {toml_value(v)}")
        out.append("")
    return "\n".join(out)
