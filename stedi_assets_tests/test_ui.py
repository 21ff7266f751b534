"""What analysts see, proven through the interfaces the UI uses: the real `stedi ui` (`dg dev`:
webserver and daemon, its runs on a Spark Connect server) on loopback, its GraphQL API, and
Debian's Chromium driven by Playwright."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from pyspark.sql import SparkSession

from stedi_assets.publishing.flow import FULL_REFRESH_TAG
from stedi_assets.settings import PROJECT_ROOT
from stedi_assets.tools.sample_data import write_sample_landing
from stedi_assets_tests.conftest import SharedServer
from stedi_assets_tests.graphql import ASSET_DETAILS, ASSET_GRAPH, DagsterWebserver
from stedi_assets_tests.lakes import TABLE_PATHS, assert_lake_matches, stedi_ui
from stedi_assets_tests.reference_contract import compute_expected

pytestmark = [pytest.mark.ui, pytest.mark.slow]

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LANDING = ["customer_landing", "accelerometer_landing", "step_trainer_landing"]
ZONE = [
    "customer_trusted",
    "accelerometer_trusted",
    "step_trainer_trusted",
    "customers_curated",
    "machine_learning_curated",
]
EDGES = {
    ("customer_landing", "customer_trusted"),
    ("accelerometer_landing", "accelerometer_trusted"),
    ("customer_trusted", "accelerometer_trusted"),
    ("customer_trusted", "customers_curated"),
    ("accelerometer_trusted", "customers_curated"),
    ("step_trainer_landing", "step_trainer_trusted"),
    ("customer_trusted", "step_trainer_trusted"),
    ("customers_curated", "step_trainer_trusted"),
    ("step_trainer_trusted", "machine_learning_curated"),
    ("accelerometer_trusted", "machine_learning_curated"),
    ("customers_curated", "machine_learning_curated"),
}
# Edges are the graph's SVG paths ending in an arrow marker; a hovered edge is drawn twice.
EDGE_PATHS = 'svg path[marker-end^="url(#arrow"]'
COUNT_EDGES = "s => new Set([...document.querySelectorAll(s)].map(p => p.getAttribute('d'))).size"


@pytest.fixture(scope="module")
def ui_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui") / "lake"


@pytest.fixture(scope="module")
def webserver(ui_lake: Path, shared_server: SharedServer) -> Iterator[DagsterWebserver]:
    """`make ui`'s command (`stedi ui`: `dg dev`, every run a client of one Spark Connect
    server) on a fresh DAGSTER_HOME, with the landing sensor stopped so runs start only when
    asked. Its Spark port is the session's server's, which it finds listening and uses.
    (`test_connect.py` has `stedi ui` start and stop a server of its own; `test_daemon.py` runs
    the daemon on `workspace.yaml`.)"""
    with stedi_ui(ui_lake.parent, shared_server.port, STEDI_LAKE=str(ui_lake)) as (server, _):
        location, repository = server.wait_until_loaded()
        assert server.stop_sensors(location, repository) == ["landing_files_sensor"]
        write_sample_landing(ui_lake, customers=40, seed=3)
        yield server


def commit_times(table: Path) -> list[float]:
    """When each version of a Delta table was committed, in seconds since the epoch."""
    times = []
    for commit in sorted((table / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            entry = json.loads(line)
            if "commitInfo" in entry:
                times.append(entry["commitInfo"]["timestamp"] / 1000)
    return times


def assert_everything_reads_back(webserver: DagsterWebserver) -> None:
    """The graph, groups, owners, tags, column schemas and lineage, row counts, previews and
    check results of the latest materializations, as GraphQL (and so the UI) gives them."""
    nodes = webserver.query(ASSET_GRAPH)["assetNodes"]
    assert sorted(n["assetKey"]["path"][0] for n in nodes) == sorted(LANDING + ZONE)
    edges = {
        (dep["path"][0], node["assetKey"]["path"][0])
        for node in nodes
        for dep in node["dependencyKeys"]
    }
    assert edges == EDGES
    groups = {node["assetKey"]["path"][0]: node["groupName"] for node in nodes}
    assert {groups[name] for name in LANDING} == {"landing"}
    assert groups["machine_learning_curated"] == "curated"

    details = {n["assetKey"]["path"][0]: n for n in webserver.query(ASSET_DETAILS)["assetNodes"]}
    for name in LANDING:
        (schema,) = [
            e for e in details[name]["metadataEntries"] if e["label"] == "dagster/column_schema"
        ]
        assert schema["schema"]["columns"]
    for name in ZONE:
        node = details[name]
        assert node["owners"] == [{"team": "stedi-data-engineering"}]
        tags = {tag["key"]: tag["value"] for tag in node["tags"]}
        assert tags["zone"] in ("trusted", "curated") and tags["pii"] in ("true", "pseudonymous")
        (materialization,) = node["assetMaterializations"]
        entries = {entry["label"]: entry for entry in materialization["metadataEntries"]}
        columns = entries["dagster/column_schema"]["schema"]["columns"]
        assert all(column["description"] for column in columns), name
        lineage = {
            row["columnName"]: row["columnDeps"]
            for row in entries["dagster/column_lineage"]["lineage"]
        }
        assert set(lineage) == {column["name"] for column in columns}, name
        assert entries["dagster/row_count"]["intValue"] > 0
        assert "|" in entries["preview"]["mdStr"]
        checks = node["assetChecksOrError"]["checks"]
        for check in checks:
            evaluation = check["executionForLatestMaterialization"]["evaluation"]
            assert evaluation["success"] or evaluation["severity"] == "WARN", (name, check["name"])
    training = details["machine_learning_curated"]["assetMaterializations"][0]["metadataEntries"]
    lineage = next(e for e in training if e["label"] == "dagster/column_lineage")["lineage"]
    x_deps = next(row["columnDeps"] for row in lineage if row["columnName"] == "x")
    assert x_deps == [{"assetKey": {"path": ["accelerometer_trusted"]}, "columnName": "x"}]


def test_two_runs_launched_through_graphql_are_serialised_and_read_back(
    webserver: DagsterWebserver, ui_lake: Path, spark: SparkSession
) -> None:
    """dagster.yaml's run queue runs one run at a time: two "Materialize all" launches in a row
    run one after the other, each table gets one version per run, in run order, and the tables
    are what the contract says; then everything the UI shows of them reads back. The second
    launch carries the full-refresh run tag: without it, nothing having changed, it would
    rebuild no table."""
    launched = [
        webserver.materialize_all(),
        webserver.materialize_all(tags={FULL_REFRESH_TAG: "true"}),
    ]
    assert [webserver.wait_for_run(run_id) for run_id in launched] == ["SUCCESS", "SUCCESS"]
    (first_start, first_end), (second_start, second_end) = sorted(
        map(webserver.run_times, launched)
    )
    assert first_end <= second_start
    for table in TABLE_PATHS.values():
        *_, by_first, by_second = commit_times(ui_lake / table)
        assert first_start <= by_first <= first_end < second_start <= by_second <= second_end
    expected = compute_expected(ui_lake)
    assert_lake_matches(spark, ui_lake, expected)
    assert_everything_reads_back(webserver)


def test_the_browser_shows_the_graph_and_materializes_it(webserver: DagsterWebserver) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    launched: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 2400, "height": 1400})
        # A fresh instance greets with a "Join the Dagster community" dialog: skip it.
        context.add_init_script("localStorage.setItem('communityNux', JSON.stringify('1'))")
        page = context.new_page()
        page.on(
            "response",
            lambda response: (
                launched.append(response.json()["data"]["launchPipelineExecution"]["run"]["id"])
                if "op=LaunchPipelineExecution" in response.url
                else None
            ),
        )
        page.goto(f"{webserver.url}/asset-groups")
        materialize = page.get_by_role("button", name=re.compile(r"Materialize all \(5\)"))
        materialize.wait_for(timeout=60_000)
        page.wait_for_selector("svg foreignObject", timeout=60_000)
        if page.locator('[data-tooltip="customer_landing"]').count() == 0:
            page.keyboard.press("Alt+KeyE")  # expand the asset groups
        for name in LANDING + ZONE:
            page.locator(f'[data-tooltip="{name}"]').first.wait_for(timeout=30_000)
        page.mouse.move(0, 0)
        page.wait_for_function(f"n => ({COUNT_EDGES})('{EDGE_PATHS}') >= n", arg=len(EDGES))
        assert page.evaluate(COUNT_EDGES, EDGE_PATHS) == len(EDGES)
        page.screenshot(path=str(ARTIFACTS / "lineage-graph.png"), full_page=True)

        materialize.click()
        toast = page.locator("[data-sonner-toast]").filter(has_text="Launched run")
        toast.wait_for(timeout=30_000)
        (run_id,) = launched
        assert toast.get_by_role("link", name="View").get_attribute("href") == f"/runs/{run_id}"
        assert webserver.wait_for_run(run_id) == "SUCCESS"
        page.goto(f"{webserver.url}/runs/{run_id}")
        page.get_by_text("Success").first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "materialize-all-run.png"), full_page=True)
        browser.close()
