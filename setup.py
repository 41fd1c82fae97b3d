from setuptools import find_packages, setup

setup(
    name="vcam-sr",
    version="0.1.0",
    description="Real-time 2x super-resolution webcam: camera -> generator -> virtual camera",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["vcam_sr*"]),  # engine_build/ and training/ stay in the repository
    package_data={"vcam_sr.models": ["*.onnx", "*.pt", "*.json"],
                  "vcam_sr.apps.web": ["templates/*.html", "static/*"]},
    install_requires=[
        "numpy>=1.24",
        # The contrib build of OpenCV 4.x (a superset of opencv-python): `vcam-sr bench --peers`
        # needs its dnn_superres module; OpenCV 5 cannot load the peers' .pb files.
        "opencv-contrib-python>=4.8,<5",
        "onnxruntime>=1.17",
        "pyvirtualcam>=0.11",
        "pyyaml>=6",
        "av>=18.1",  # 18.1: Stream.set_display_rotation keeps a video's rotation
        "pydantic>=2.5",
        "tqdm>=4.60",
        "platformdirs>=3",
        "mss>=9",
        "inotify_simple>=1.3; sys_platform == 'linux'",
        "pillow>=10",  # images: `vcam-sr upscale photo.png` and the web page's uploads
    ],
    extras_require={
        # torch is pinned: on these machines 2.13.0 is a local CPU wheel, anything else is a
        # multi-GB CUDA download.
        "train": ["torch==2.13.0", "onnx>=1.15", "onnxscript>=0.1", "onnxconverter-common>=1.14",
                  "scikit-image>=0.22", "scikit-learn>=1.3", "tensorboard>=2.14",
                  # an ffmpeg with libvmaf, for VMAF in the call curve (training/callcurve.py)
                  "imageio-ffmpeg>=0.8"],
        # Qt's tray icon: a real menu on Linux, Windows and macOS from pip alone (see README).
        "tray": ["PySide6-Essentials>=6.5"],
        # OpenVINO: bf16 on CPUs with AMX / AVX512-BF16, Intel integrated GPUs and NPUs.
        "openvino": ["openvino>=2024.0"],
        # The local web page: Flask for the app, waitress to serve it.
        "web": ["flask>=3", "waitress>=3"],
        # TensorRT-RTX from PyPI; standard TensorRT comes from NVIDIA's index (see README).
        "trt": ["tensorrt-rtx-cu12", "cuda-python>=12.6", "onnx>=1.15", "onnxconverter-common>=1.14"],
        # pytest-timeout: .ci/run gives every test a limit; python-xlib: the window tests click
        # the preview window's close button as a window manager does
        "dev": ["pytest>=8", "pytest-timeout>=2.1", "python-xlib>=0.33", "torch==2.13.0", "onnx>=1.15",
                "onnxscript>=0.1", "onnxconverter-common>=1.14", "scikit-image>=0.22", "scikit-learn>=1.3",
                "tensorboard>=2.14",
                "tensorrt-rtx-cu12", "PySide6-Essentials>=6.5", "flask>=3", "waitress>=3",
                "playwright>=1.40", "requests>=2.28", "openvino>=2024.0", "imageio-ffmpeg>=0.8"],
    },
    entry_points={"console_scripts": ["vcam-sr=vcam_sr.cli:main"]},
)
