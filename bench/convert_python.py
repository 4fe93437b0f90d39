"""Baseline for bench/convert.ts: the conversion `hcs-store convert` does, in Python.

A folder of ImageXpress planes (A01_s1_w1.tif: well, field, channel) becomes an
OME-NGFF 0.4 plate (Zarr v2; zarr 2.13 writes no v3) with what our converter
writes: one array per field [channel, y, x] with one chunk per plane, zstd
level 1, a 2x mean pyramid until the coarsest level fits 256 px (levels "0".."n",
rounded half to even like ours), per-channel contrast windows from a histogram
(omero), well and plate metadata. Every TIFF is read with tifffile.imread and
every chunk is written by zarr; nothing is cached between runs.

Usage: python3 bench/convert_python.py INPUT_DIR OUTPUT.zarr
       python3 bench/convert_python.py --verify PLATE.zarr INPUT_DIR WELL...
         (reads level 0 of each WELL, e.g. A/01, with zarr and compares every
         plane with tifffile.imread of its file; prints "ok N planes")
"""

import os
import re
import sys

import numpy as np
import tifffile
import zarr
from numcodecs import Zstd

NAME = re.compile(
    r"^(?:.*_)?(?P<well>[A-Z]{1,2}\d{1,3})_s(?P<field>\d+)_w(?P<channel>\d+)\.(?:tiff?|png)$", re.I
)
TILE = 256
COLORS = ["00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00", "FFFFFF"]


def natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def plan(inp):
    wells = {}
    for name in sorted(os.listdir(inp)):
        m = NAME.match(name)
        if not m:
            continue
        w = re.match(r"^([A-Za-z]+)(\d+)$", m["well"])
        key = (w[1].upper(), w[2])
        wells.setdefault(key, []).append((m["field"], m["channel"], os.path.join(inp, name)))
    fields = sorted({f for fs in wells.values() for f, _, _ in fs}, key=natural)
    channels = sorted({c for fs in wells.values() for _, c, _ in fs}, key=natural)
    order = sorted(wells, key=lambda k: (len(k[0]), k[0], natural(k[1])))
    return order, wells, fields, channels


def downsample(a):
    """2x mean of a [c, h, w] stack (even h, w), rounded half to even as ours."""
    c, h, w = a.shape
    s = a.reshape(c, h // 2, 2, w // 2, 2).astype(np.uint32).sum(axis=(2, 4))
    return np.round(s / 4.0).astype(a.dtype)


def window(plane_stack):
    """Contrast window (0.1 / 99.9 percentile) from a histogram, as ours (uint16)."""
    hist = np.bincount(plane_stack.ravel(), minlength=65536)
    cum = np.cumsum(hist)
    total = cum[-1]
    lo = int(np.searchsorted(cum, total * 0.001))
    hi = int(np.searchsorted(cum, total * 0.999))
    return {"min": 0, "max": 65535, "start": lo, "end": max(hi, lo + 1)}


def convert(inp, out):
    order, wells, fields, channels = plan(inp)
    comp = Zstd(level=1)
    store = zarr.DirectoryStore(out, dimension_separator="/")
    root = zarr.group(store=store, overwrite=True)
    fi = {f: i for i, f in enumerate(fields)}
    ci = {c: i for i, c in enumerate(channels)}
    for row, col in order:
        files = wells[(row, col)]
        planes = {}
        for f, c, path in files:
            planes[(fi[f], ci[c])] = (tifffile.imread(path), os.path.basename(path))
        well = root.require_group(row).create_group(col)
        well.attrs["well"] = {
            "images": [{"path": str(f), "acquisition": 0} for f in range(len(fields))],
            "version": "0.4",
        }
        for f in range(len(fields)):
            stack = np.stack([planes[(f, c)][0] for c in range(len(channels))])
            levels = [stack]
            while max(levels[-1].shape[1:]) > TILE:
                levels.append(downsample(levels[-1]))
            g = well.create_group(str(f))
            for lvl, a in enumerate(levels):
                arr = g.create_dataset(
                    str(lvl),
                    shape=a.shape,
                    chunks=(1,) + a.shape[1:],
                    dtype=a.dtype,
                    compressor=comp,
                    dimension_separator="/",
                )
                arr[...] = a
            names = {planes[(f, c)][1]: [c] for c in range(len(channels))}
            g["0"].attrs["polystore_filename_map"] = names
            g["0"].attrs["polystore_output_paths"] = [os.path.join(out, n) for n in names]
            g.attrs["multiscales"] = [
                {
                    "version": "0.4",
                    "name": f"{row}{col}_{f}",
                    "axes": [
                        {"name": "channel", "type": "channel"},
                        {"name": "y", "type": "space"},
                        {"name": "x", "type": "space"},
                    ],
                    "datasets": [
                        {
                            "path": str(lvl),
                            "coordinateTransformations": [
                                {"type": "scale", "scale": [1, 2.0**lvl, 2.0**lvl]}
                            ],
                        }
                        for lvl in range(len(levels))
                    ],
                }
            ]
            g.attrs["omero"] = {
                "channels": [
                    {
                        "label": channels[c],
                        "color": COLORS[c % len(COLORS)],
                        "window": window(stack[c]),
                        "active": True,
                    }
                    for c in range(len(channels))
                ],
                "rdefs": {"model": "color"},
            }
    rows = sorted({r for r, _ in order}, key=lambda r: (len(r), r))
    cols = sorted({c for _, c in order}, key=natural)
    root.attrs["plate"] = {
        "version": "0.4",
        "name": os.path.basename(out),
        "rows": [{"name": r} for r in rows],
        "columns": [{"name": c} for c in cols],
        "wells": [
            {"path": f"{r}/{c}", "rowIndex": rows.index(r), "columnIndex": cols.index(c)}
            for r, c in order
        ],
        "field_count": len(fields),
        "acquisitions": [{"id": 0, "maximumfieldcount": len(fields)}],
    }


def verify(plate, inp, wells):
    order, files, fields, channels = plan(inp)
    root = zarr.open_group(zarr.DirectoryStore(plate, dimension_separator="/"), mode="r")
    n = 0
    for w in wells:
        row, col = w.split("/")
        for f, c, path in files[(row, col)]:
            got = root[f"{row}/{col}/{fields.index(f)}/0"][channels.index(c)]
            want = tifffile.imread(path)
            if got.shape != want.shape or not np.array_equal(got, want):
                sys.exit(f"verify: {plate} {w} field {f} channel {c} differs from {path}")
            n += 1
    print(f"ok {n} planes")


if __name__ == "__main__":
    if sys.argv[1] == "--verify":
        verify(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        convert(sys.argv[1], sys.argv[2])
