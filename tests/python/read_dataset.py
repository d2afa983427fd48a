"""Reads a Striatum episode dataset with numpy and Pillow only, as docs/datasets.md shows, and
prints a JSON digest that the Rust test compares with its own reading.

Usage: python read_dataset.py DATASET_DIR
"""
import json
import pathlib
import sys

import numpy as np
from PIL import Image

DEPTH_UNIT = 1e-4  # metres per stored depth unit; 0 means no surface


def load_episode(ep: pathlib.Path) -> dict:
    meta = json.loads((ep / "episode.json").read_text())
    arrays = {p.stem: np.load(p) for p in ep.glob("*.npy")}
    views = {}
    for cam in meta["cameras"]:
        d = ep / "cameras" / cam["name"]
        rgb = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted((d / "rgb").glob("*.png"))])
        view = {"rgb": rgb, "pose": np.load(d / "pose.npy")}
        if cam["depth"]:
            raw = np.stack([np.asarray(Image.open(p), dtype=np.uint16) for p in sorted((d / "depth").glob("*.png"))])
            view["depth"] = np.where(raw == 0, np.inf, raw * DEPTH_UNIT)
        views[cam["name"]] = view
    return {"meta": meta, "arrays": arrays, "views": views}


def main() -> None:
    root = pathlib.Path(sys.argv[1])
    manifest = json.loads((root / "dataset.json").read_text())
    assert manifest["format"] == "striatum-episodes" and manifest["version"] == 1
    digest = []
    for ep_dir in sorted(p for p in (root / "episodes").iterdir() if not p.name.startswith(".")):
        ep = load_episode(ep_dir)
        a, m = ep["arrays"], ep["meta"]
        t = a["actions"].shape[0]
        assert a["joint_positions"].shape == (t + 1, len(m["joint_names"]))
        assert a["objects"].shape == (t + 1, len(m["object_names"]), 7)
        view = next(iter(ep["views"].values()))
        h, w = view["rgb"].shape[1:3]
        digest.append({
            "instruction": m["instruction"],
            "variant": m["variant"],
            "success": m["success"],
            "steps": int(t),
            "progress": a["progress"].tolist(),
            "stage": a["stage"].tolist(),
            "actions_sum": float(a["actions"].sum()),
            "joint_positions_last": a["joint_positions"][-1].tolist(),
            "rgb_sums": {k: [int(x) for x in v["rgb"].reshape(v["rgb"].shape[0], -1).sum(axis=1)] for k, v in ep["views"].items()},
            "depth_center": {k: [float(x) for x in v["depth"][:, h // 2, w // 2]] for k, v in ep["views"].items() if "depth" in v},
            "camera_pose_first": {k: v["pose"][0].tolist() for k, v in ep["views"].items()},
        })
    print(json.dumps(digest))


if __name__ == "__main__":
    main()
