"""Packaging for latentreenact."""

from setuptools import find_packages, setup

setup(
    name="latentreenact",
    version="0.1.0",
    description="One-shot face reenactment by learned directions in StyleGAN2's latent space",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["latentreenact", "latentreenact.*", "stylegan2_ops", "inversion",
                                    "directions", "demo"]),
    package_data={
        "stylegan2_ops": ["csrc/*.cpp", "csrc/*.cu", "csrc/*.h"],
        "latentreenact": ["weights/*.pt", "weights/*.md", "examples/*.jpg", "examples/*.mp4", "examples/*.md"],
    },
    install_requires=[
        "torch>=2.1",
        "numpy>=1.23",
        "click>=8.1",
        "tqdm>=4.60",
        "pillow>=9.0",
        "filelock>=3.8",
        "ninja>=1.10",
        "scipy>=1.10",
        "onnx>=1.15",          # reads the SFace / YuNet graphs into PyTorch modules
        "dlib-bin>=19.24",     # face detection, 68 landmarks, descriptor (prebuilt dlib wheel)
        "imageio-ffmpeg>=0.5",
        "matplotlib>=3.7",     # the plots of `latentreenact eval motion`
    ],
    extras_require={
        # onnxruntime: cross-check of our ONNX import; gradio + selenium: the demo's client and browser tests
        "test": ["pytest>=7", "onnxruntime>=1.16", "gradio>=6.0", "gradio_client>=2.0", "selenium>=4.20"],
        "demo": ["gradio>=6.0"],
        # optional: cross-checks the MobileStyleGAN port against the OpenVINO runtime
        "openvino": ["openvino>=2024.0"],
    },
    entry_points={"console_scripts": ["latentreenact=latentreenact.cli.main:cli"]},
)
