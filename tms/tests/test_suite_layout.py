"""The suite runs every app's tests: pytest collects only `testpaths` (pyproject.toml), so an app
whose tests folder is missing there is never tested, in CI or anywhere (webhooks/ and analytics/
were left out for a while)."""

import tomllib
from pathlib import Path

from django.conf import settings


def test_every_apps_tests_are_collected():
    root = Path(settings.BASE_DIR)
    options = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    apps_with_tests = {folder.parent.name for folder in root.glob("*/tests") if folder.is_dir()}
    assert apps_with_tests and apps_with_tests <= set(options["testpaths"])
