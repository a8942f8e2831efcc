import json
import os
import pathlib

import pytest

HERE = pathlib.Path(__file__).resolve().parent


def vectors_dir() -> pathlib.Path:
    env = os.environ.get("ESCROW_TEST_VECTORS")
    if env:
        return pathlib.Path(env)
    return HERE.parent.parent.parent / "tests" / "vectors"


@pytest.fixture(scope="session")
def vectors() -> pathlib.Path:
    d = vectors_dir()
    if not (d / "keys" / "vectors.json").exists():
        pytest.fail(f"test vectors not found in {d} (set ESCROW_TEST_VECTORS)")
    return d


def load(sub: str):
    return json.loads((vectors_dir() / sub / "vectors.json").read_text())
