"""Large photos and frames: the face crop and the paste-back blend limited to where they act, and ``max_side``.

``faces.paste_back`` once warped the crop and its mask over the whole photo and blended every pixel; it now
warps and blends only the box where the crop lands (the same bits; ``tests/test_faces.py``). And the video
path (``ReenactOptions.max_side``, ``--max-side``, default 1920) scales a larger source photo down before
pasting into it. The FFHQ crop of a large face
once shrank the whole image (Lanczos) before cutting the face out; it now filters only the face's region where
the shrink divides the image's sides (the same bits; ``tests/test_faces.py``). In one process, interleaved,
this times:

* the aligned 256 px crop (``faces.extract_quad``) of a face spanning 40 % of the height of 1920 x 1080 to
  4032 x 3024 px images, the whole-image shrink (the reference, written out here) against the library's, and
  the face measuring of driving frames of 3840 x 2160 px (the bundled clip scaled up and padded; detection,
  landmarks and crop, one thread) with each, and checks that both give the same bits;
* one ``paste_back`` of a 256 px face into photos of 640 x 360 to 4032 x 3024 px, the whole-frame blend (the
  reference, written out here) against the library's, and checks that both give the same bits;
* ``reenact_video`` of the bundled clip's first frames with a 4032 x 3024 px source photo (the bundled photo
  scaled up and widened; the encoder's code, no tuning, since only the time of the frames is measured): the whole-frame
  blend at the photo's size (as before), the library's blend at the photo's size (``max_side=None``), and the
  default (1920), in seconds per frame, with the output's size.

    python benchmarks/bench_large_photo.py [--frames 24] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from bench_files import machine, median_time, write_outputs
from PIL import Image

import latentreenact.faces.quad_crop as quad_crop_module
import latentreenact.output_frame as output_frame_module
from latentreenact.faces import paste_back, soft_mask, transform_points
from latentreenact.faces.quad_crop import rescale_transform
from latentreenact.faces.warp import warp_affine
from latentreenact.reenact_video import OUTPUT_MAX_SIDE, ReenactOptions
from latentreenact.reenactor import Reenactor
from latentreenact.video import iter_frames, probe_video

EXAMPLES = Path(__file__).resolve().parents[1] / "latentreenact" / "examples"
SIZES = ((640, 360), (1920, 1080), (4032, 3024))
CROP_SIZES = ((1920, 1080), (3840, 2160), (4032, 3024))


def whole_frame_paste(frame: np.ndarray, crop: np.ndarray, transform: np.ndarray, mask: str = "ellipse",
                      feather: float = 0.1, transform_size: Optional[int] = None) -> np.ndarray:
    """The reference: ``paste_back`` as first written (crop and mask warped over the whole frame)."""
    t = np.eye(3)
    t[:2] = np.asarray(transform, dtype=np.float64)[:2]
    size = crop.shape[0]
    if transform_size is not None and transform_size != size:
        t = rescale_transform(t, transform_size, size)
    m = soft_mask(size, mask, feather)
    scale = float(np.sqrt(abs(np.linalg.det(t[:2, :2]))))
    if scale < 0.75:  # a much finer crop is downscaled first (antialiased), as in the library
        new = max(8, int(round(size * scale)))
        crop = np.asarray(Image.fromarray(crop).resize((new, new), Image.LANCZOS))
        m = np.asarray(Image.fromarray(m, mode="F").resize((new, new), Image.BILINEAR))
        t = rescale_transform(t, size, new)
    inverse = np.linalg.inv(t)
    warped = warp_affine(crop, inverse, frame.shape[:2]).astype(np.float32)
    alpha = warp_affine(m.astype(np.float32), inverse, frame.shape[:2])[:, :, None]
    out = frame.astype(np.float32) * (1.0 - alpha) + warped * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def check_patchable(module: Any, name: str) -> None:
    """Fail when ``module`` no longer has ``name`` (a moved function: replacing it would time nothing)."""
    if not hasattr(module, name):
        raise SystemExit(f"{module.__name__} has no {name}: the benchmark's reference would not be used")


def whole_image_cut(rgb: np.ndarray, crop: Any, shrink: int, full: Any) -> Image.Image:
    """The reference for ``quad_crop._cut``: FFHQ's recipe as first written, the whole image shrunk (to ``full``),
    then cropped."""
    img = Image.fromarray(rgb)
    if shrink > 1:
        img = img.resize(full, Image.LANCZOS)
    return img.crop(crop)


def crop_rows(reenactor: Reenactor, repeats: int) -> List[Dict[str, Any]]:
    """One face crop per image size and the measuring of 4K driving frames, whole-image shrink against region."""
    rng = np.random.default_rng(1)
    check_patchable(quad_crop_module, "_cut")
    cut = quad_crop_module._cut
    rows = []
    try:
        for width, height in CROP_SIZES:
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            t = face_transform(width, height)
            quad = transform_points(t, np.array([[-0.5, -0.5], [-0.5, 255.5], [255.5, 255.5], [255.5, -0.5]]))
            results, times = [], []
            for version in (whole_image_cut, cut):
                quad_crop_module._cut = version
                results.append(quad_crop_module.extract_quad(image, quad, 256).crop)
                times.append(median_time(lambda: quad_crop_module.extract_quad(image, quad, 256), repeats) * 1e3)
            same = bool(np.array_equal(*results))
            rows.append({"what": f"face crop {width}x{height}", "whole_image_ms": times[0], "ms": times[1],
                         "ratio": times[0] / times[1], "same_bits": same})
            print(f"face crop {width:>5}x{height:<5} whole image {times[0]:8.1f} ms   region {times[1]:7.1f} ms   "
                  f"ratio {times[0] / times[1]:6.2f}   same bits {same}")
        frames = [np.pad(np.asarray(Image.fromarray(f).resize((1536, 1536), Image.LANCZOS)),
                         ((312, 312), (1152, 1152), (0, 0))) for f in iter_frames(EXAMPLES / "smile.mp4", 8)]
        results, times = [], []
        for version in (whole_image_cut, cut):
            quad_crop_module._cut = version
            results.append([reenactor.meter.aligned(f)[0] for f in frames])
            times.append(median_time(lambda: [reenactor.meter.aligned(f) for f in frames], repeats) / len(frames) * 1e3)
        same = all(np.array_equal(a, b) for a, b in zip(*results))
        rows.append({"what": "measuring a 3840x2160 driving frame", "whole_image_ms": times[0], "ms": times[1],
                     "ratio": times[0] / times[1], "same_bits": same})
        print(f"measuring a 3840x2160 frame: whole image {times[0]:7.1f} ms   region {times[1]:7.1f} ms   "
              f"ratio {times[0] / times[1]:6.2f}   same bits {same}")
    finally:
        quad_crop_module._cut = cut
    return rows


def face_transform(width: int, height: int, size: int = 256) -> np.ndarray:
    """A crop -> photo transform of a face whose crop spans 40 % of the photo's height, turned by 5 degrees."""
    scale, angle = 0.4 * height / size, np.radians(5.0)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    t = np.eye(3)
    t[:2, :2] = rotation
    t[:2, 2] = np.array([width / 2, height / 2]) - rotation @ np.array([size / 2, size / 2])
    return t


def paste_rows(repeats: int) -> List[Dict[str, Any]]:
    """One paste_back per photo size, the whole-frame reference against the library's."""
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    rows = []
    for width, height in SIZES:
        photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        t = face_transform(width, height)
        same = bool(np.array_equal(whole_frame_paste(photo, face, t), paste_back(photo, face, t)))
        before = median_time(lambda: whole_frame_paste(photo, face, t), repeats) * 1e3
        after = median_time(lambda: paste_back(photo, face, t), repeats) * 1e3
        rows.append({"photo": f"{width}x{height}", "whole_frame_ms": before, "ms": after, "ratio": before / after,
                     "same_bits": same})
        print(f"paste_back {width:>5}x{height:<5} whole frame {before:8.1f} ms   landing box {after:7.1f} ms   "
              f"ratio {before / after:6.2f}   same bits {same}")
    return rows


def video_rows(reenactor: Reenactor, frames: int, repeats: int, folder: Path) -> List[Dict[str, Any]]:
    """reenact_video with a 4032 x 3024 source photo: the three settings, interleaved."""
    photo = Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((3024, 3024), Image.LANCZOS)
    canvas = np.pad(np.asarray(photo), ((0, 0), (504, 504), (0, 0)), mode="edge")  # 4032 x 3024
    src = reenactor.invert(canvas, tune="none", check_identity=False)
    clip = EXAMPLES / "smile.mp4"
    base = ReenactOptions(paste_back=True)
    settings = {"whole-frame blend, full size (before)": (whole_frame_paste, base.with_(max_side=None)),
                "landing-box blend, full size": (paste_back, base.with_(max_side=None)),
                f"landing-box blend, max_side {OUTPUT_MAX_SIDE} (default)": (paste_back, base)}
    times: Dict[str, List[float]] = {name: [] for name in settings}
    check_patchable(output_frame_module, "paste")
    sizes: Dict[str, Any] = {}
    try:
        for _ in range(repeats):
            for name, (paste, options) in settings.items():
                output_frame_module.paste = paste
                out = folder / "out.mp4"
                summary = reenactor.reenact_video(src, clip, out, options, max_frames=frames)
                times[name].append(summary.seconds_per_frame)
                sizes[name] = probe_video(out).size
    finally:
        output_frame_module.paste = paste_back
    before = statistics.median(times[next(iter(times))])
    rows = []
    for name, values in times.items():
        seconds = statistics.median(values)
        rows.append({"setting": name, "s_per_frame": seconds, "ratio": before / seconds, "output": list(sizes[name])})
        print(f"reenact_video {name:<46} {seconds:6.3f} s/frame   ratio {before / seconds:5.2f}   "
              f"output {sizes[name][0]}x{sizes[name][1]}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=24, help="driving frames per video run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per setting")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.frames < 1 or args.repeats < 1:
        parser.error("--frames and --repeats must be >= 1")
    print(f"# large images, {machine()['machine']}, {torch.get_num_threads()} torch threads, medians of {args.repeats}")
    reenactor = Reenactor.from_pretrained("default", seed=0)
    crops = crop_rows(reenactor, max(args.repeats, 5))
    pastes = paste_rows(max(args.repeats, 5))
    with tempfile.TemporaryDirectory() as folder:
        videos = video_rows(reenactor, args.frames, args.repeats, Path(folder))
    write_outputs({**machine(), "repeats": args.repeats, "frames": args.frames, "face_crop": crops, "paste_back": pastes,
                   "reenact_video": videos}, args.json)
    if not all(row["same_bits"] for row in pastes):
        raise SystemExit("the landing-box blend differs from the whole-frame blend")
    if not all(row["same_bits"] for row in crops):
        raise SystemExit("the region's face crop differs from the whole image's")


if __name__ == "__main__":
    main()
