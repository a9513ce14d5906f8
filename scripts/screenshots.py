"""Screenshots of the Dagster UI on a materialised pipeline: its asset graph and one asset's checks.

    python scripts/screenshots.py                      # the sentiment example, fast variant -> docs/
    python scripts/screenshots.py --spec my.yaml --as-is --out /tmp/shots

The fast variant swaps the example's teacher for the deterministic `fake` backend and its student
for TF-IDF, so the pictures show the real asset graph, checks and metadata after about a minute
on a CPU. Everything runs in a temporary project (warehouse, DAGSTER_HOME with telemetry and the
first-visit community prompt off); a headless Chromium takes the pictures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "synth_assets" / "pipelines" / "sentiment.yaml"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# nux: Dagster's "Join the Dagster community" dialog, shown on a first visit from localhost
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
# wide enough that the graph, zoomed to fit, draws each asset's card with its checks and status
GRAPH_WINDOW = (2000, 1000)
PAGE_WINDOW = (1600, 1000)
ASSET_PAGE = "filtered"
ASSETS_QUERY = """{ assetNodes { assetKey { path } groupName
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }"""
REPOS_QUERY = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
# a code location that fails to load still answers GraphQL: its error is here, and the UI shows "Error loading"
LOCATIONS_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


@dataclass(frozen=True)
class Shots:
    """The two pictures and what the server reported while they were taken."""

    graph: Path
    asset: Path
    assets: dict[str, list[dict]]  # "pipeline/table" -> its checks with their latest status
    groups: set[str]  # every asset group the server lists (one per pipeline of the code location)
    location_errors: list[str]  # load errors of the code locations, as the UI would show them
    overview_text: str  # the rendered asset-groups overview page (Chromium's DOM after its queries settled)


def find_chromium() -> str | None:
    """$SYNTH_CHROMIUM, or the first Chromium/Chrome binary on PATH."""
    explicit = os.environ.get("SYNTH_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fast_spec(spec_path: Path, out: Path) -> Path:
    """A copy of the spec with the fake teacher and a TF-IDF student; its data copied beside it (a spec reads
    only files under its own folder)."""
    raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    base = spec_path.resolve().parent
    for source in [*raw["seeds"], raw["eval"]]:
        dest = out.parent / "data" / Path(source["path"]).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / source["path"], dest)
        source["path"] = str(dest.relative_to(out.parent))
    raw["teacher"] = {"backend": "fake", "model": "fake", "batch_size": raw.get("teacher", {}).get("batch_size", 16)}
    raw["student"] = {"kind": "tfidf_logreg"}
    raw["description"] = f"{raw.get('description', '')} (screenshot run: fake teacher, TF-IDF student)".strip()
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return out


def project_env(workdir: Path, spec: Path, also: list[Path] | None = None) -> dict[str, str]:
    """The environment `synth run` and the webserver share, so the UI shows the CLI's runs (and `also`'s pipelines)."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    specs = os.pathsep.join(str(p) for p in [spec, *(also or [])])
    env = dict(os.environ, DAGSTER_HOME=str(home), SYNTH_SPECS=specs, SYNTH_WAREHOUSE=str(workdir / "warehouse"),
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


def location_errors(base: str) -> list[str]:
    """Each code location that failed to load, with its error: what the UI's "Error loading" banner shows."""
    entries = graphql(base, LOCATIONS_QUERY)["workspaceOrError"].get("locationEntries", [])
    return [f"{e['name']}: {(e['locationOrLoadError'] or {}).get('message', '')}" for e in entries
            if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]


def rendered_text(chromium: str, url: str, profile: Path) -> str:
    """The page's DOM once its queries have settled, as headless Chromium renders it."""
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {url} ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def materialise(spec: Path, workdir: Path, env: dict[str, str]) -> None:
    """`synth run` on the spec, in its own process, as a user would."""
    log = workdir / "run.log"
    with open(log, "w") as fh:
        done = subprocess.run([sys.executable, "-m", "synth_assets.cli", "run", "--spec", str(spec)],
                              env=env, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"synth run failed ({done.returncode}); last lines of {log}:\n{log.read_text()[-3000:]}")


def graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        payload = json.load(reply)
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


def listed_assets(base: str, group: str) -> dict[str, list[dict]]:
    """The group's assets as the server lists them, with each asset's checks."""
    out = {}
    for node in graphql(base, ASSETS_QUERY)["assetNodes"]:
        if node["groupName"] == group:
            checks = (node.get("assetChecksOrError") or {}).get("checks", [])
            out["/".join(node["assetKey"]["path"])] = [
                {"name": c["name"], "status": (c["executionForLatestMaterialization"] or {}).get("status")} for c in checks]
    return out


@contextmanager
def webserver(workdir: Path, env: dict[str, str], group: str, timeout_s: float = 180) -> Iterator[str]:
    """dagster-webserver on a free 127.0.0.1 port, yielded once it lists the group's assets; stopped on exit."""
    base = f"http://127.0.0.1:{free_port()}"
    log = open(workdir / "webserver.log", "w")
    cmd = [sys.executable, "-m", "dagster_webserver", "-f", str(ROOT / "definitions.py"),
           "-h", "127.0.0.1", "-p", base.rsplit(":", 1)[1]]
    # its own session, so stopping it also stops the code server it starts
    proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited ({proc.returncode}); see {workdir / 'webserver.log'}")
            try:
                if listed_assets(base, group):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, RuntimeError):
                pass  # not up yet, or the code location is still loading
            if time.monotonic() > deadline:
                raise TimeoutError(f"dagster-webserver did not list group {group!r} within {timeout_s:.0f} s")
            time.sleep(1)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def screenshot(chromium: str, url: str, out: Path, window: tuple[int, int], profile: Path) -> Path:
    """One headless Chromium picture of `url`; the virtual-time budget lets the page's queries settle."""
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}", "--virtual-time-budget=15000",
           f"--screenshot={out}", url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"chromium failed on {url} ({done.returncode}): {done.stderr[-2000:]}")
    return out


def capture(spec: Path, out_dir: Path, workdir: Path, chromium: str, also: list[Path] | None = None) -> Shots:
    """Materialise the spec in `workdir`, serve it (with the pipelines of `also` in the same code location),
    and save asset-graph and asset-checks pictures to `out_dir`."""
    pipeline = yaml.safe_load(spec.read_text(encoding="utf-8"))["name"]
    materialise(spec, workdir, project_env(workdir, spec))
    env = project_env(workdir, spec, also)
    out_dir.mkdir(parents=True, exist_ok=True)
    with webserver(workdir, env, pipeline) as base:
        assets = listed_assets(base, pipeline)
        groups = {n["groupName"] for n in graphql(base, ASSETS_QUERY)["assetNodes"]}
        errors = location_errors(base)
        repo = graphql(base, REPOS_QUERY)["repositoriesOrError"]["nodes"][0]
        repo_path = f"{repo['name']}@{repo['location']['name']}"
        graph = screenshot(chromium, f"{base}/locations/{repo_path}/asset-groups/{pipeline}",
                           out_dir / "ui-asset-graph.png", GRAPH_WINDOW, workdir / "chromium")
        asset = screenshot(chromium, f"{base}/assets/{pipeline}/{ASSET_PAGE}?view=checks",
                           out_dir / "ui-asset.png", PAGE_WINDOW, workdir / "chromium")
        overview = rendered_text(chromium, f"{base}/asset-groups", workdir / "chromium")
    return Shots(graph, asset, assets, groups, errors, overview)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=EXAMPLE, help="pipeline spec (default: the sentiment example)")
    parser.add_argument("--as-is", action="store_true", help="keep the spec's own teacher and student (slow with real models)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for ui-asset-graph.png and ui-asset.png")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)} and $SYNTH_CHROMIUM); "
              "on Debian/Ubuntu: apt-get install -y chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="synth-screenshots-") as tmp:
        workdir = Path(tmp)
        spec = args.spec.resolve() if args.as_is else fast_spec(args.spec, workdir / "spec.yaml")
        shots = capture(spec, args.out.resolve(), workdir, chromium)
    for path in (shots.graph, shots.asset):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
