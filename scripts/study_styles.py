"""Which style signals carry over to a style the choices never saw: leave-one-style-out.

Step 1 (`extract`, slow, once): every dev sticker's candidate blocks are cached in one .npz under
--cache (keyed by the CNN input side): EfficientNet-Lite0 channel mean/std after blocks 2, 4, 7,
10 and 15, masked Gram matrices after blocks 2, 4 and 7, the pooled head; the hand-made v1
blocks (palette, texture, stats); and candidates in a perceptual space: CIELAB lightness and
chroma histograms, the outline profile from the alpha edge inwards (thickness, darkness),
lightness-gradient and curvature histograms (flat fills versus shading), uniform local binary
patterns, and palette size (how many colours cover 50-99% of the sticker).

Step 2 (`study`, numpy on the cache): simulated users prefer one style; a history of H stickers
(each pick in another style with chance 0.1, or 0.3) from one half of the emoji; for held-out
emoji, the same emoji in every style of the library compete on the style signal alone (relevance
given), so the table is Hit@1 of the preferred style (chance 1 / styles). Every figure is held
out: users prefer the style left out, and anything fitted (a pack projection) is fitted on the
other styles' packs. `--tables nested` chooses blocks by forward selection on the four training
styles and scores the choice on the fifth.

    python scripts/study_styles.py extract ../shared/data/stickers-dev
    python scripts/study_styles.py study ../shared/data/stickers-dev --tables blocks rules
"""

import argparse
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from PIL import Image
from scipy import ndimage

from engine.imaging import unit_rows
from engine.understanding.style.efficientnet import (
    _load_efficientnet_lite0,
    channel_stats_block,
    gram_block,
)
from engine.understanding.style.handcrafted import handcrafted_blocks, on_grey, rgba_array

Array = npt.NDArray[np.float64]
SIZES = (3, 10, 30)
CHANNEL_DEPTHS, GRAM_DEPTHS = (2, 4, 7, 10, 15), (2, 4, 7)
V1 = {"gram4": 1.0, "ch7": 1.0, "palette": 1.0, "texture": 0.6, "stats": 0.6}
PERCEPTUAL = ("lab", "outline", "shading", "lbp", "palette_size")

# --- step 1: candidate blocks ---------------------------------------------------------------------


def cnn_blocks(model: object, images: list[Image.Image], side: int) -> dict[str, Array]:
    """Channel statistics and Gram matrices at several depths, and the pooled head."""
    import torch

    arrays = [rgba_array(image, side) for image in images]
    rgb = np.stack([on_grey(a) for a in arrays]).transpose(0, 3, 1, 2)
    x = torch.from_numpy((rgb - 0.498) / 0.502).float()
    alpha = torch.from_numpy(np.stack([a[..., 3] for a in arrays])[:, None]).float()
    out: dict[str, Array] = {}
    m: object = model
    with torch.inference_mode():
        h = m._swish(m._bn0(m._conv_stem(x)))  # type: ignore[attr-defined]
        for depth, block in enumerate(m._blocks):  # type: ignore[attr-defined]
            h = block(h)
            if depth in CHANNEL_DEPTHS:
                out[f"ch{depth}"] = channel_stats_block(h, alpha)
            if depth in GRAM_DEPTHS:
                out[f"gram{depth}"] = gram_block(h, alpha)
        head = m._swish(m._bn1(m._conv_head(h)))  # type: ignore[attr-defined]
        out["pooled"] = head.mean(dim=(2, 3)).numpy()
    return out


def srgb_to_lab(rgb: Array) -> Array:
    """CIELAB (D65) of sRGB values in [0, 1]."""
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    to_xyz = [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
    xyz = linear @ np.array(to_xyz).T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lab = [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])]
    return np.stack(lab, axis=-1)


def _shares(values: Array, bins: Sequence[float]) -> Array:
    hist = np.histogram(values, bins=np.asarray(bins))[0].astype(np.float64)
    return np.sqrt(hist / max(hist.sum(), 1.0))


def perceptual_blocks(rgba: Array) -> dict[str, Array]:
    """The perceptual candidates of one 128 px RGBA array (see the module doc)."""
    opaque = rgba[..., 3] > 0.5
    opaque = opaque if opaque.any() else np.ones_like(opaque)
    lab = srgb_to_lab(rgba[..., :3])
    light, pixels = lab[..., 0], lab[opaque]
    chroma = np.hypot(pixels[:, 1], pixels[:, 2])
    spread = [pixels[:, 0].std() / 50, chroma.std() / 50, chroma.mean() / 100]
    chroma_bins = (0, 5, 10, 20, 30, 45, 60, 80, 200)
    lab_block = np.concatenate(
        [_shares(pixels[:, 0], np.linspace(0, 100, 11)), _shares(chroma, chroma_bins), spread]
    )
    depth = ndimage.distance_transform_cdt(np.pad(opaque, 1), metric="taxicab")[1:-1, 1:-1]
    rings = [light[depth == d] / 100 for d in range(1, 9)]
    outline = [[r.mean(), (r < 0.3).mean(), r.std() * 2] if r.size else [0, 0, 0] for r in rings]
    core = light[depth > 8] / 100
    outline.append([float((core < 0.3).mean()) if core.size else 0.0])
    inner = ndimage.binary_erosion(opaque, iterations=2)
    inner = inner if inner.any() else opaque
    gy, gx = np.gradient(light)
    steps = (-1, 0.25, 0.75, 1.5, 3, 6, 12, 24, 48, 200)
    curvature = np.abs(ndimage.laplace(light))[inner]
    shading = np.concatenate([_shares(np.hypot(gx, gy)[inner], steps), _shares(curvature, steps)])
    return {
        "lab": lab_block,
        "outline": np.concatenate([np.asarray(r, dtype=np.float64) for r in outline]),
        "shading": shading,
        "lbp": _lbp(light, opaque),
        "palette_size": _palette_size(rgba[..., :3], opaque),
    }


def _lbp(light: Array, opaque: npt.NDArray[np.bool_]) -> Array:
    padded = np.pad(light, 1, mode="edge")
    ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
    near = np.stack([padded[r : r + light.shape[0], c : c + light.shape[1]] for r, c in ring])
    above = near >= light + 2.0
    transitions = (above != np.roll(above, 1, axis=0)).sum(axis=0)
    code = np.where(transitions <= 2, above.sum(axis=0), 9)
    code = np.where(np.abs(near - light).max(axis=0) < 2.0, 10, code)[opaque]
    return np.sqrt(np.bincount(code, minlength=11) / max(code.size, 1))


def _palette_size(rgb: Array, opaque: npt.NDArray[np.bool_]) -> Array:
    q = np.minimum((rgb[opaque] * 16).astype(np.int64), 15)
    codes = (q[:, 0] * 16 + q[:, 1]) * 16 + q[:, 2]
    cumulative = np.cumsum(np.sort(np.bincount(codes, minlength=4096))[::-1] / len(codes))
    counts = [np.searchsorted(cumulative, s) + 1 for s in (0.5, 0.75, 0.9, 0.95, 0.99)]
    return np.log2(np.array(counts, dtype=np.float64)) / 12


def extract(root: Path, cache: Path, side: int) -> Path:
    """Compute and save every candidate block of every manifest row (once)."""
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    target = cache / f"blocks-{side}.npz"
    model = _load_efficientnet_lite0("cpu")
    parts: dict[str, list[Array]] = {}
    started = time.perf_counter()
    for start in range(0, len(rows), 32):
        images = [Image.open(root / r["file"]).copy() for r in rows[start : start + 32]]
        blocks = cnn_blocks(model, images, side)
        for image in images:
            hand = handcrafted_blocks(image) | perceptual_blocks(rgba_array(image, 128))
            for name, value in hand.items():
                parts.setdefault(name, []).append(value[None])
        for name, value in blocks.items():
            parts.setdefault(name, []).append(value)
        print(f"{start + len(images)} stickers, {time.perf_counter() - started:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(target, **{n: np.concatenate(v).astype(np.float32) for n, v in parts.items()})
    return target


# --- step 2: the simulation -----------------------------------------------------------------------


@dataclass
class Data:
    """Labels of the manifest rows and their cached blocks."""

    style: npt.NDArray[np.int64]
    emoji: npt.NDArray[np.int64]
    styles: list[str]
    row: dict[tuple[int, int], int]
    blocks: dict[str, Array]


def load(root: Path, npz: Path) -> Data:
    """Labels from the manifest, blocks from the cache (same row order)."""
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    styles = sorted({r["style"] for r in rows})
    index = {h: i for i, h in enumerate(sorted({r["hexcode"] for r in rows}))}
    style = np.array([styles.index(r["style"]) for r in rows])
    emoji = np.array([index[r["hexcode"]] for r in rows])
    row = {(int(e), int(s)): n for n, (e, s) in enumerate(zip(emoji, style, strict=True))}
    with np.load(npz) as saved:
        blocks = {k: saved[k].astype(np.float64) for k in saved.files}
    return Data(style, emoji, styles, row, blocks)


def spaced(data: Data, names: Sequence[str], lib: npt.NDArray[np.int64], content: bool) -> dict:
    """Unit blocks minus the library mean and, for `content`, minus the other packs' mean of
    the same emoji (each style is a pack here), shrunk by 0.5 packs: engine/personalize.py."""
    n_emoji = int(data.emoji.max()) + 1
    onehot = sp.csr_matrix(
        (np.ones(len(lib)), (data.emoji[lib], np.arange(len(lib)))), shape=(n_emoji, len(lib))
    )
    packs = np.bincount(data.emoji[lib], minlength=n_emoji)
    out = {}
    for name in names:
        x = unit_rows(data.blocks[name]).astype(np.float64)
        x -= x[lib].mean(axis=0)
        if content:
            total = onehot @ x[lib]
            others = np.maximum(packs[data.emoji] - 1, 0)
            x -= np.where(others[:, None] > 0, total[data.emoji] - x, 0) / (others + 0.5)[:, None]
        out[name] = x
    return out


@dataclass
class User:
    """Per-block products of one user's candidates with their history."""

    shape: tuple[int, int]
    dots: dict[str, Array]
    cand_sq: dict[str, Array]
    hist_sq: dict[str, Array]
    hist_dots: dict[str, Array]
    good: npt.NDArray[np.bool_]


def simulate(
    data: Data,
    names: Sequence[str],
    styles: list[int],
    prefer: tuple[int, ...],
    size: int,
    noise: float,
    content: bool = True,
    users: int = 20,
) -> list[User]:
    """Users preferring `prefer` (one style, or two alternating) in a library of `styles`."""
    lib = np.flatnonzero(np.isin(data.style, styles))
    space = spaced(data, names, lib, content)
    rng = np.random.default_rng([size, *prefer, len(styles), int(noise * 100)])
    others = [s for s in styles if s not in prefer]
    n_emoji = int(data.emoji.max()) + 1
    out = []
    for _ in range(users):
        order = rng.permutation(n_emoji)
        picks = [prefer[i % len(prefer)] for i in range(size)]
        picks = [int(rng.choice(others)) if rng.random() < noise else p for p in picks]
        history = [data.row[(int(e), p)] for e, p in zip(order[:size], picks, strict=True)]
        asked = order[n_emoji // 2 :][:20]
        cands = np.array([[data.row[(int(e), s)] for s in styles] for e in asked]).ravel()
        out.append(
            User(
                (len(asked), len(styles)),
                {b: space[b][cands] @ space[b][history].T for b in names},
                {b: (space[b][cands] ** 2).sum(1) for b in names},
                {b: (space[b][history] ** 2).sum(1) for b in names},
                {b: space[b][history] @ space[b][history].T for b in names},
                np.isin(np.array(styles), prefer),
            )
        )
    return out


Rule = Callable[[Array, Array], Array]  # (candidate x history, history x history) cosines


def _top(share: float) -> Rule:
    """Mean of the nearest `share` of the history, at least 3 items (engine: rule nearest)."""

    def rule(sims: Array, _: Array) -> Array:
        n = sims.shape[1]
        keep = max(min(3, n), int(np.ceil(share * n)))
        return np.sort(sims, axis=1)[:, -keep:].mean(1)

    return rule


RULES: dict[str, Rule] = {
    "similarity": lambda sims, _: sims.mean(1),
    "knn k=3": lambda sims, _: np.sort(sims, axis=1)[:, -3:].mean(1),
    "nearest half (default)": _top(0.5),
    "nearest 70%": _top(0.7),
}


def hit_at_1(
    users: list[User], weights: Mapping[str, float], rule: Rule = RULES["similarity"]
) -> float:
    """Hit@1 of the preferred style (both styles in the top 2 for two-style users)."""
    credit = total = 0.0
    for u in users:
        num = sum(w * w * u.dots[b] for b, w in weights.items())
        nc = np.sqrt(sum(w * w * u.cand_sq[b] for b, w in weights.items()))
        nh = np.sqrt(sum(w * w * u.hist_sq[b] for b, w in weights.items()))
        sims = num / np.maximum(nc[:, None] * nh[None, :], 1e-12)
        hh = sum(w * w * u.hist_dots[b] for b, w in weights.items())
        scores = rule(sims, hh / np.maximum(nh[:, None] * nh[None, :], 1e-12)).reshape(u.shape)
        if u.good.sum() == 1:
            best = scores >= scores.max(axis=1, keepdims=True) - 1e-12
            credit += float(((best & u.good).sum(1) / best.sum(1)).sum())
        else:
            top = np.argsort(-scores, axis=1)[:, : int(u.good.sum())]
            credit += float(u.good[top].all(axis=1).sum())
        total += u.shape[0]
    return credit / total


def held_out(
    data: Data, names: Sequence[str], noise: float = 0.1, content: bool = True, two: bool = False
) -> Iterator[tuple[int, dict[int, list[User]]]]:
    """Per held-out style: its users (in the library of all styles), per history size."""
    everything = list(range(len(data.styles)))
    for held in everything:
        prefer = (held, (held + 1) % len(everything)) if two else (held,)
        sims = {h: simulate(data, names, everything, prefer, h, noise, content) for h in SIZES}
        yield held, sims


def table(data: Data, rows: Mapping[str, Mapping[str, float]], **kw: object) -> None:
    """Print held-out Hit@1 per recipe: mean over folds per H, and per fold at H=10."""
    names = sorted({b for w in rows.values() for b in w})
    folds = list(held_out(data, names, **kw))  # type: ignore[arg-type]
    print(f"{'':40s} " + " ".join(f"H={h:<4d}" for h in SIZES) + "   H=10 per held-out style")
    for label, weights in rows.items():
        per = np.array([[hit_at_1(users[h], weights) for h in SIZES] for _, users in folds])
        cells = " ".join(f"{v:.3f} " for v in per.mean(0))
        print(f"{label:40s} {cells}  " + " ".join(f"{v:.2f}" for v in per[:, 1]), flush=True)


def projection_table(data: Data, dims: int = 256) -> None:
    """V1 blocks (content space) through a projection fitted on the training styles' packs:
    PCA, then whitening of the within-pack covariance (shrunk by `lam`)."""
    names = list(V1)
    lib = np.arange(len(data.style))
    space = spaced(data, names, lib, content=True)
    x = unit_rows(np.concatenate([w * space[b] for b, w in V1.items()], axis=1)).astype(float)
    for lam in (1.0, 0.9, 0.6, 0.3):
        per = []
        for held in range(len(data.styles)):
            fit = data.style != held
            z = _whitened(x, fit, data.style, dims, lam)
            data_z = Data(data.style, data.emoji, data.styles, data.row, {"z": z})
            users = {
                h: simulate(data_z, ["z"], list(range(5)), (held,), h, 0.1, False) for h in SIZES
            }
            per.append([hit_at_1(users[h], {"z": 1.0}) for h in SIZES])
        label = "PCA only" if lam == 1.0 else f"within-pack whitening, shrink {lam}"
        print(f"{label:40s} " + " ".join(f"{v:.3f} " for v in np.mean(per, 0)), flush=True)


def _whitened(
    x: Array, fit: npt.NDArray[np.bool_], labels: npt.NDArray[np.int64], dims: int, lam: float
) -> Array:
    mean = x[fit].mean(0)
    _, _, vt = np.linalg.svd(x[fit] - mean, full_matrices=False)
    y = (x - mean) @ vt[:dims].T
    within = np.concatenate(
        [y[fit & (labels == c)] - y[fit & (labels == c)].mean(0) for c in np.unique(labels[fit])]
    )
    cov = within.T @ within / len(within)
    cov = (1 - lam) * cov + lam * np.trace(cov) / dims * np.eye(dims)
    vals, vecs = np.linalg.eigh(cov)
    z = y @ (vecs @ np.diag(vals**-0.5) @ vecs.T)
    return unit_rows(z - z.mean(0)).astype(float)


def nested_table(data: Data, candidates: Sequence[str]) -> None:
    """Forward block selection on the four training styles, scored on the fifth."""
    everything = list(range(len(data.styles)))
    scores = []
    for held in everything:
        train = [s for s in everything if s != held]
        inner = [
            simulate(data, candidates, train, (t,), h, 0.1, users=10) for t in train for h in SIZES
        ]
        chosen: dict[str, float] = {}
        best = -1.0
        while len(chosen) < len(candidates):
            trials = [
                (float(np.mean([hit_at_1(u, chosen | {b: w}) for u in inner])), b, w)
                for b in candidates
                if b not in chosen
                for w in ((1.0,) if not chosen else (1.0, 0.7, 0.5))
            ]
            score, block, weight = max(trials)
            if score <= best + 0.002:
                break
            chosen[block], best = weight, score
        outer = [
            hit_at_1(simulate(data, candidates, everything, (held,), h, 0.1), chosen) for h in SIZES
        ]
        scores.append(outer)
        print(
            f"held out {data.styles[held]:15s} chose {chosen}: "
            + " ".join(f"{v:.3f}" for v in outer),
            flush=True,
        )
    print("nested mean " + " ".join(f"{v:.3f}" for v in np.mean(scores, 0)))


def main() -> None:
    """`extract` the blocks once, then `study` them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["extract", "study"])
    parser.add_argument("data", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/stickerbot-style-study"))
    parser.add_argument("--side", type=int, default=224, help="CNN input resolution")
    parser.add_argument("--tables", nargs="+", default=["blocks", "rules", "projection", "nested"])
    args = parser.parse_args()
    if args.step == "extract":
        print(extract(args.data, args.cache, args.side))
        return
    data = load(args.data, args.cache / f"blocks-{args.side}.npz")
    singles = [*(f"ch{d}" for d in CHANNEL_DEPTHS), *(f"gram{d}" for d in GRAM_DEPTHS), "pooled"]
    singles += ["palette", "texture", "stats", *PERCEPTUAL]
    if "blocks" in args.tables:
        rows = {f"{b} alone": {b: 1.0} for b in singles}
        rows |= {
            "v1 (gram4 ch7 palette texture stats)": V1,
            "v1, equal weights": dict.fromkeys(V1, 1.0),
        }
        rows |= {f"v1 + {b}": V1 | {b: 1.0} for b in (*PERCEPTUAL, "gram2", "gram7", "ch4", "ch10")}
        rows["every block, equal weights"] = dict.fromkeys(singles, 1.0)
        for content in (False, True):
            print(f"\n== blocks, {'content' if content else 'centred'} space (Hit@1, chance 0.2)")
            table(data, rows, content=content)
    if "rules" in args.tables:
        for noise, two in ((0.1, False), (0.3, False), (0.1, True)):
            who = ", two-style users (both in the top 2)" if two else ""
            print(f"\n== rules, v1 content space, off-style {noise}{who}")
            folds = list(held_out(data, list(V1), noise=noise, two=two))
            for name, rule in RULES.items():
                per = np.array([[hit_at_1(u[h], V1, rule) for h in SIZES] for _, u in folds])
                print(f"{name:40s} " + " ".join(f"{v:.3f} " for v in per.mean(0)), flush=True)
    if "projection" in args.tables:
        print(
            "\n== pack-fitted projections of v1 (content space), fitted without the held-out style"
        )
        projection_table(data)
    if "nested" in args.tables:
        print("\n== nested forward selection (content space)")
        nested_table(data, [b for b in singles if b != "pooled"])


if __name__ == "__main__":
    main()
