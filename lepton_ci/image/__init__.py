"""`lepton-ci image build|push`: the model image, built and pushed through the Docker API.

:func:`build_image` renders the Dockerfile (the same function `lepton-ci render` uses),
assembles the build context and writes ``image/build.env``; :func:`push_image` pushes every
tag, writes ``image/image.env`` (LEPTON_IMAGE, LEPTON_IMAGE_DIGEST) and records the digest on
the model version in the registry.
"""

from lepton_ci.image.build import BuildResult, build_image
from lepton_ci.image.push import PushResult, push_image

__all__ = ["BuildResult", "PushResult", "build_image", "push_image"]
