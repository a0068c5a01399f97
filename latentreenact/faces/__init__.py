"""Faces: detection (dlib HOG / MMOD, YuNet), 68 landmarks, FFHQ and VoxCeleb alignment with
inverse transforms, and paste-back. Model files come from registry packages and load on first use."""

from .alignment import align_face, align_ffhq, align_vox, face_crop, ffhq_quad, transform_points, vox_quad
from .detection import (DETECT_MAX_SIDE, DETECTORS, THREAD_SAFE_DETECTORS, detect_faces, detect_faces_batch, find_face,
                        find_face_counted, find_faces)
from .image_input import DEFAULT_MAX_PIXELS, as_rgb_uint8, probe_image, read_image
from .landmarks import five_points, landmarks_68
from .paste_back import canvas_size, fit_canvas, paste_back, soft_mask
from .quad_crop import AlignedCrop, extract_quad, rescale_transform
from .tracking import FaceTracker, TrackedFace, box_from_landmarks
from .types import Face, FaceIndexError, ImageTooLargeError, ModelFileError, NoFaceError

__all__ = [
    "AlignedCrop", "DEFAULT_MAX_PIXELS", "DETECT_MAX_SIDE", "DETECTORS", "Face", "FaceIndexError", "FaceTracker",
    "TrackedFace", "box_from_landmarks",
    "ImageTooLargeError", "ModelFileError", "NoFaceError", "align_face",
    "align_ffhq", "align_vox", "as_rgb_uint8", "detect_faces", "detect_faces_batch", "extract_quad",
    "canvas_size", "face_crop", "ffhq_quad", "fit_canvas", "find_face", "find_face_counted", "find_faces",
    "five_points", "landmarks_68", "paste_back",
    "probe_image", "read_image",
    "rescale_transform", "soft_mask", "THREAD_SAFE_DETECTORS", "transform_points", "vox_quad",
]
