"""The CLI skips pydantic's plugin lookup only when no plugin can be installed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from reconciler.pydantic_plugins import plugins_may_exist, skip_lookup_when_none_installed

REPO = Path(__file__).resolve().parents[1]
SPEC = "workspaceId: 1\ntestRuns:\n  a:\n    targetId: 1\n    probeIds: [1]\n"

# A pydantic plugin as the docs describe one: an object with new_schema_validator, declared
# in the `pydantic` entry-point group. It says which models it was shown.
_PLUGIN = """
import sys

class _Plugin:
    def new_schema_validator(self, schema, schema_type, path, kind, config, settings):
        print(f"plugin saw {path.name}", file=sys.stderr)
        return None, None, None

plugin = _Plugin()
"""


def _distribution(site: Path, name: str, entry_points: str | None) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


def test_distributions_without_the_group_mean_no_plugin(tmp_path: Path) -> None:
    _distribution(tmp_path, "plain", None)
    _distribution(tmp_path, "tool", "[console_scripts]\ntool = tool:main\n")
    assert not plugins_may_exist([str(tmp_path), str(tmp_path / "missing")], meta_path=[])


def test_a_declared_group_means_a_plugin(tmp_path: Path) -> None:
    _distribution(tmp_path, "tool", "[console_scripts]\nx = y:z\n\n[ pydantic ]\nmine = m:p\n")
    assert plugins_may_exist([str(tmp_path)], meta_path=[])


def test_what_cannot_be_read_plainly_counts_as_a_plugin(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("x.dist-info/entry_points.txt", "[pydantic]\nmine = m:p\n")
    assert plugins_may_exist([str(archive)], meta_path=[])
    (tmp_path / "old.egg").mkdir()
    assert plugins_may_exist([str(tmp_path / "old.egg")], meta_path=[])

    class ListsDistributions:
        def find_distributions(self, *_: object) -> list[object]:
            return []

    assert plugins_may_exist([], meta_path=[ListsDistributions()])


def test_the_users_own_setting_is_left_to_pydantic() -> None:
    assert not skip_lookup_when_none_installed(env={"PYDANTIC_DISABLE_PLUGINS": "mine"})


def _plan(tmp_path: Path, pythonpath: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs" / "runs.yaml").write_text(SPEC)
    probe = (
        "import atexit, sys\n"
        "sys.argv = ['reconciler', 'plan', '--state', 'state.json']\n"
        "from reconciler.entry import main\n"
        # main() ends the process (reconciler.collector.end_process), running atexit first.
        "atexit.register(lambda: print('metadata read:', 'importlib.metadata' in sys.modules,\n"
        "                              file=sys.stderr))\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    return subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": pythonpath, "NO_COLOR": "1"},
    )


def test_a_plan_without_plugins_reads_no_package_metadata(tmp_path: Path) -> None:
    done = _plan(tmp_path, str(REPO))
    assert "Plan: 1 to trigger" in done.stdout
    assert "metadata read: False" in done.stderr


def test_an_installed_plugin_still_sees_every_model(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _distribution(site, "watcher", "[pydantic]\nwatcher = watcher_plugin:plugin\n")
    (site / "watcher_plugin.py").write_text(_PLUGIN)
    done = _plan(tmp_path, os.pathsep.join([str(REPO), str(site)]))
    assert "Plan: 1 to trigger" in done.stdout
    assert "plugin saw RunAttributes" in done.stderr
    assert "plugin saw State" in done.stderr
