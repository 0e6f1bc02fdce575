"""pytest fixtures: one fargate-local per test session (``fargate_local``),
reset before each test that asks for ``fargate_local_clean``. Settings come
from the environment: FARGATE_LOCAL_TAG (default ``dev``) and
FARGATE_LOCAL_REGION (default ``us-east-1``)."""

import os

import pytest

from . import FargateLocalContainer


@pytest.fixture(scope="session")
def fargate_local():
    emu = FargateLocalContainer(
        tag=os.environ.get("FARGATE_LOCAL_TAG", "dev"),
        region=os.environ.get("FARGATE_LOCAL_REGION", "us-east-1"),
    )
    with emu:
        yield emu


@pytest.fixture
def fargate_local_clean(fargate_local):
    fargate_local.reset()
    return fargate_local
