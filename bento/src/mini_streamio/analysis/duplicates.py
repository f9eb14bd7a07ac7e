"""Exact duplicates (same sha256) and near-duplicates (a perceptual hash within a Hamming distance).

dHash: the image in grey, shrunk to (size+1) by size, one bit per pair of horizontal neighbours
(is the left pixel brighter?). Re-encoding, slight blur or resizing keep most bits; different
scenes differ in about half of them. Two images whose hashes differ in at most `threshold` of
the 64 bits are called near-duplicates, and groups are the connected components of that
relation (so a chain of near-duplicates is one group).

The pairwise comparison is O(n²) in numpy, one row block at a time: fine for tens of
thousands of images, not for millions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from PIL import Image

HASH_SIZE = 8  # 8 by 8 = 64 bits
_BLOCK = 2048


def dhash(path: Path | str, size: int = HASH_SIZE) -> int:
    with Image.open(path) as image:
        grey = image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.int16)
    bits = (pixels[:, :-1] > pixels[:, 1:]).flatten()
    return int("".join("1" if bit else "0" for bit in bits), 2)


def hamming_matrix(hashes: list[int], others: list[int] | None = None) -> npt.NDArray[np.uint8]:
    """Bits that differ between every hash of `hashes` and every one of `others` (default: itself)."""
    left = np.array(hashes, dtype=np.uint64)
    right = left if others is None else np.array(others, dtype=np.uint64)
    rows = [_popcount(left[i : i + _BLOCK, None] ^ right[None, :]) for i in range(0, len(left), _BLOCK)]
    return np.concatenate(rows) if rows else np.zeros((0, len(right)), dtype=np.uint8)


def _popcount(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    as_bytes = values.view(np.uint8).reshape(*values.shape, 8)
    counts: npt.NDArray[np.uint8] = np.unpackbits(as_bytes, axis=-1).sum(axis=-1, dtype=np.uint8)
    return counts


def connected_groups(count: int, pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A group number per item, for the graph whose edges are `pairs` (shape (k, 2)); union-find."""
    parent = np.arange(count)

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = int(parent[item])
        return item

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(i) for i in range(count)], dtype=np.int64)
    _, groups = np.unique(roots, return_inverse=True)
    return groups.astype(np.int64)


def near_duplicate_groups(hashes: list[int], threshold: int) -> npt.NDArray[np.int64]:
    distances = hamming_matrix(hashes)
    i, j = np.nonzero(np.triu(distances <= threshold, k=1))
    return connected_groups(len(hashes), np.stack([i, j], axis=1).astype(np.int64))


@dataclass(frozen=True)
class DuplicateReport:
    images: pd.DataFrame  # split, file, sha256, dhash, exact_group, near_group
    threshold: int

    def summary(self, group: str) -> pd.DataFrame:
        """Per split, for `exact_group` or `near_group`: images, distinct groups, copies beyond the
        first, images whose group also holds an image of another split (and of train)."""
        images = self.images
        splits_of_group = images.groupby(group)["split"].agg(frozenset)
        in_groups = images.assign(group_splits=images[group].map(splits_of_group))
        rows = {}
        for split, of_split in in_groups.groupby("split", sort=False):
            distinct = of_split[group].nunique()
            rows[split] = {
                "images": len(of_split),
                "distinct": distinct,
                "redundant copies": len(of_split) - distinct,
                "share redundant": round((len(of_split) - distinct) / max(len(of_split), 1), 3),
                "shared with another split": int(of_split["group_splits"].map(len).gt(1).sum()),
                "shared with train": int(of_split["group_splits"].map(lambda s: "train" in s).sum())
                if split != "train"
                else 0,
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def group_sizes(self, group: str, split: str) -> pd.Series:
        """How many groups of the split have 1, 2, 3 … images of it."""
        sizes = self.images[self.images["split"] == split].groupby(group).size()
        return sizes.value_counts().sort_index().rename_axis("copies").rename("groups")

    def cross_split_groups(self, group: str) -> pd.DataFrame:
        """The groups that hold images of more than one split, one row per image."""
        images = self.images
        spread = images.groupby(group)["split"].nunique()
        crossing = spread[spread > 1].index
        return images[images[group].isin(crossing)].sort_values([group, "split", "file"])

    def nearest_in_train(self, split: str) -> pd.Series:
        """For each image of `split`, the Hamming distance of its dHash to the closest train image;
        for train itself, to the closest train image that is not a byte-identical copy of it."""
        mine, _, distances = self._distances_to_train(split)
        values = distances.min(axis=1) if distances.size else np.zeros(0)
        return pd.Series(values, index=mine["file"].to_numpy(), name="distance", dtype=float)

    def closest_pairs(self, split: str, count: int) -> pd.DataFrame:
        """The `count` images of `split` closest to a train image (as nearest_in_train), each with
        that image: columns path_a, label_a, path_b, label_b, distance (for plots.image_pairs)."""
        mine, train, distances = self._distances_to_train(split)
        rows = []
        if distances.size:
            nearest = distances.argmin(axis=1)
            closest = distances[np.arange(len(mine)), nearest]
            for i in np.argsort(closest, kind="stable")[:count]:
                a, b = mine.iloc[i], train.iloc[nearest[i]]
                rows.append(
                    {
                        "path_a": a["path"],
                        "label_a": f"{split}: {_short(a['file'])}",
                        "path_b": b["path"],
                        "label_b": f"train: {_short(b['file'])}",
                        "distance": float(closest[i]),
                    }
                )
        return pd.DataFrame(rows, columns=["path_a", "label_a", "path_b", "label_b", "distance"])

    def _distances_to_train(self, split: str) -> tuple[pd.DataFrame, pd.DataFrame, npt.NDArray[np.float64]]:
        images = self.images
        mine, train = images[images["split"] == split], images[images["split"] == "train"]
        if mine.empty or train.empty:
            return mine, train, np.zeros((0, 0))
        distances = hamming_matrix(list(mine["dhash"]), list(train["dhash"])).astype(float)
        if split == "train":  # a copy of itself is not a neighbour worth reporting
            copies = mine["exact_group"].to_numpy()[:, None] == train["exact_group"].to_numpy()[None, :]
            distances[copies] = np.inf
        return mine, train, distances


def _short(file: str, width: int = 24) -> str:
    """The end of the file's stem, where frame names keep their time stamp or number."""
    stem = (
        file.split(".rf.")[0].removesuffix("_png").removesuffix("_jpg")
    )  # Roboflow's `<stem>_png.rf.<hash>`
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return stem if len(stem) <= width else "…" + stem[-(width - 1) :]


def find_duplicates(images: pd.DataFrame, threshold: int = 6) -> DuplicateReport:
    """`images` needs split, file, path and sha256 (dataset_stats.load_tables' image table)."""
    table = images[["split", "file", "path", "sha256"]].reset_index(drop=True)
    hashes = [dhash(path) for path in table["path"]]
    exact = table.groupby("sha256", sort=False).ngroup().to_numpy()
    table = table.assign(
        dhash=pd.Series(hashes, dtype=object),
        exact_group=exact,
        near_group=near_duplicate_groups(hashes, threshold),
    )
    return DuplicateReport(table, threshold)
