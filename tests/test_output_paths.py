"""Output paths (issue #18): the suffixes we write per kind of output, ``check_output`` before any
work, containers matched to codecs, and atomic writes whose errors name the user's path (never the
temporary ``.part`` file)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentreenact import fileio
from latentreenact.fileio import OutputNotWritableError, atomic_path, staged_directory
from latentreenact.images import image_format, save_image
from latentreenact.output_paths import (IMAGE_FORMATS, OUTPUT_SUFFIXES, VIDEO_CODECS, UnsupportedOutputError,
                                        check_output, output_kind)
from latentreenact.video import VideoWriter, probe_video, write_video


def listing(folder: Path) -> list:
    """Everything under ``folder``, hidden files included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def unwritable_folders(tmp_path: Path) -> list:
    """Folders this process cannot create files in: a read-only folder (not as root, who may write
    anyway), and /sys and /proc where they refuse new files (Linux, root included)."""
    found = []
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        found.append(locked)
    for system in (Path("/sys"), Path("/proc")):
        try:
            (system / ".latentreenact-probe").touch()
        except OSError:
            found.append(system)
        else:  # pragma: no cover - a system that lets us write there
            (system / ".latentreenact-probe").unlink()
    return found


# ----------------------------------------------------------------------------------------- suffixes

@pytest.mark.parametrize("suffix", [".bufr", ".xbm", ".pdf", ".gif", ".mp4", ".txt", ""])
def test_image_outputs_refuse_other_suffixes(tmp_path, suffix) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"out{suffix}"
    with pytest.raises(UnsupportedOutputError, match="use .png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff") as info:
        check_output(path, "image")
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(UnsupportedOutputError):
        image_format(path)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("suffix", sorted(IMAGE_FORMATS))
def test_every_image_suffix_is_written_and_read_back(tmp_path, suffix) -> None:  # type: ignore[no-untyped-def]
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    path = tmp_path / f"out{suffix.upper()}"  # case-insensitive
    assert check_output(path, "image") == "image"
    save_image(image, path)
    back = np.asarray(Image.open(path).convert("RGB"))
    assert back.shape == image.shape
    if suffix in (".png", ".bmp", ".tif", ".tiff"):
        assert np.array_equal(back, image)
    assert listing(tmp_path) == [path.name]


@pytest.mark.parametrize("suffix", [".avi", ".m4v", ".flv", ".png", ".mp3"])
def test_video_outputs_refuse_containers_without_codecs(tmp_path, suffix) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"out{suffix}"
    with pytest.raises(UnsupportedOutputError, match="use .mp4, .mov, .mkv, .webm, .gif"):
        check_output(path, "video")
    with pytest.raises(UnsupportedOutputError):
        VideoWriter(path, 10)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("suffix", sorted(VIDEO_CODECS))
def test_every_video_container_is_encoded_with_its_codecs(tmp_path, suffix) -> None:  # type: ignore[no-untyped-def]
    """Each container gets encoders it can hold (webm: VP9 and Opus, not H.264 and AAC), audio included."""
    import subprocess

    import imageio_ffmpeg

    audio = tmp_path / "tone.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", f"file:{audio}"], check=True, capture_output=True)
    frames = [np.full((32, 48, 3), 20 * i, np.uint8) for i in range(5)]
    path = tmp_path / f"out{suffix}"
    assert check_output(path, "video") == "video"
    assert write_video(path, frames, 10, audio_from=audio) == 5
    info = probe_video(path)
    assert info.n_frames == 5 and info.size == (48, 32) and info.has_audio
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([audio.name, path.name])


def test_output_kind_picks_files_and_directories(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "frames.v2").mkdir()
    assert output_kind(tmp_path / "out.PNG", "image", "directory") == "image"
    assert output_kind(tmp_path / "out", "image", "directory") == "directory"
    assert output_kind(tmp_path / "frames.v2", "image", "directory") == "directory"  # an existing directory
    assert output_kind(tmp_path / "run.d", "directory") == "directory"  # any name
    assert output_kind(tmp_path / "s.gif", "image", "gif") == "gif"
    assert set(OUTPUT_SUFFIXES) == {"image", "video", "gif", "table", "ranges", "checkpoint", "source", "directory"}
    assert output_kind(tmp_path / "face.lrsource", "source") == "source"
    with pytest.raises(UnsupportedOutputError, match=r"cannot write an image file or a directory to .*out\.xbm"):
        output_kind(tmp_path / "out.xbm", "image", "directory")
    with pytest.raises(ValueError, match="unknown output kind"):
        output_kind(tmp_path / "x.png", "picture")


# ----------------------------------------------------------------------------------------- locations

@pytest.mark.parametrize("kind,name", [("image", "out.png"), ("video", "out.webm"), ("directory", "run")])
def test_a_path_through_a_file_is_refused(tmp_path, kind, name) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file.txt"
    blocker.write_text("in the way")
    path = blocker / "sub" / name
    with pytest.raises(OutputNotWritableError, match=f"{blocker} is a file, not a directory") as info:
        check_output(path, kind)
    assert str(path) in str(info.value) and not isinstance(info.value, FileNotFoundError)
    assert listing(tmp_path) == ["file.txt"] and blocker.read_text() == "in the way"


@pytest.mark.parametrize("kind,name", [("image", "out.png"), ("directory", "run")])
def test_an_unwritable_folder_is_refused(tmp_path, kind, name) -> None:  # type: ignore[no-untyped-def]
    folders = unwritable_folders(tmp_path)
    if not folders:
        pytest.skip("no folder here refuses new files")
    for folder in folders:
        path = folder / "new" / name
        with pytest.raises(OutputNotWritableError, match="is not writable") as info:
            check_output(path, kind)
        assert str(path) in str(info.value) and not isinstance(info.value, FileNotFoundError)
        assert not path.parent.exists()


def test_directories_and_files_in_the_way(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "out.png").mkdir()
    with pytest.raises(OutputNotWritableError, match="out.png: it is a directory"):
        check_output(tmp_path / "out.png", "image")
    (tmp_path / "run").write_text("a file")
    with pytest.raises(OutputNotWritableError, match="a file of that name exists"):
        check_output(tmp_path / "run", "directory")
    with pytest.raises(OutputNotWritableError, match="a file of that name exists"):
        with staged_directory(tmp_path / "run"):
            pass
    # fine: missing folders (created when writing, not by the check) and an existing output directory
    assert check_output(tmp_path / "a" / "b" / "c.jpg", "image") == "image"
    assert check_output(tmp_path / "out.png", "image", "directory") == "directory"
    assert listing(tmp_path) == ["out.png", "run"]


# ----------------------------------------------------------------------------------------- atomic writes

def test_a_failed_rename_names_the_final_path(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    final = tmp_path / "out.png"

    def refuse(src, dst):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, "Permission denied", str(src), None, str(dst))

    monkeypatch.setattr(fileio.os, "replace", refuse)
    with pytest.raises(OutputNotWritableError) as info:
        save_image(np.zeros((4, 4, 3), np.uint8), final)
    assert str(info.value) == f"cannot write {final}: Permission denied" and info.value.errno == errno.EACCES
    assert listing(tmp_path) == []


def test_a_writer_failing_on_the_temporary_file_names_the_final_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    final = tmp_path / "out.jpg"
    with pytest.raises(OutputNotWritableError) as info:
        with atomic_path(final) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert str(info.value) == f"cannot write {final}: No space left on device"
    assert ".part" not in str(info.value) and listing(tmp_path) == []
    with pytest.raises(OSError, match="unrelated") as other:  # errors about other files pass unchanged
        with atomic_path(final):
            raise OSError("unrelated")
    assert not isinstance(other.value, OutputNotWritableError)


def test_atomic_writes_through_a_file_or_into_an_unwritable_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError, match=f"cannot write {blocker / 'a' / 'out.png'}: .*{blocker}"):
        save_image(np.zeros((4, 4, 3), np.uint8), blocker / "a" / "out.png")
    for folder in unwritable_folders(tmp_path):
        final = folder / "out.png"
        with pytest.raises(OutputNotWritableError) as info:
            save_image(np.zeros((4, 4, 3), np.uint8), final)
        assert str(info.value).startswith(f"cannot write {final}: ") and ".part" not in str(info.value)
        assert not isinstance(info.value, FileNotFoundError)
    assert listing(tmp_path) == ["file.txt"] or listing(tmp_path) == ["file.txt", "locked"]
