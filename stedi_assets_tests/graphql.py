"""A small client for the Dagster webserver's GraphQL API, with the queries the UI makes."""

import json
import time
import urllib.error
import urllib.request
from typing import Any

ASSET_GRAPH = """
query AssetGraph {
  assetNodes {
    assetKey { path }
    groupName
    isExecutable
    isObservable
    jobNames
    dependencyKeys { path }
    repository { name location { name } }
    assetChecksOrError { ... on AssetChecks { checks { name jobNames } } }
  }
}
"""

# The mutation the UI's "Materialize all" button sends.
LAUNCH = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""

RUN_STATUS = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
RUN_TIMES = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { startTime endTime } } }"

ASSET_DETAILS = """
query AssetDetails {
  assetNodes {
    assetKey { path }
    owners { ... on TeamAssetOwner { team } }
    tags { key value }
    metadataEntries { ...Meta }
    assetMaterializations(limit: 1) { metadataEntries { ...Meta } }
    assetChecksOrError {
      ... on AssetChecks {
        checks {
          name
          blocking
          executionForLatestMaterialization {
            status
            evaluation { success severity metadataEntries { ...Meta } }
          }
        }
      }
    }
  }
}
fragment Meta on MetadataEntry {
  __typename
  label
  ... on TableSchemaMetadataEntry {
    schema { columns { name type description constraints { nullable } } }
  }
  ... on TableColumnLineageMetadataEntry {
    lineage { columnName columnDeps { assetKey { path } columnName } }
  }
  ... on IntMetadataEntry { intValue }
  ... on MarkdownMetadataEntry { mdStr }
  ... on PathMetadataEntry { path }
  ... on TextMetadataEntry { text }
}
"""

SENSORS = """
query Sensors($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) {
    ... on Sensors { results { name sensorState { id status } } }
  }
}
"""
STOP_SENSOR = "mutation Stop($id: String!) { stopSensor(id: $id) { __typename } }"
WORKSPACE = """
query Workspace {
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name } }
          ... on PythonError { message }
        }
      }
    }
  }
}
"""

RESOURCE_CONFIG = """
query Resource($selector: ResourceSelector!) {
  topLevelResourceDetailsOrError(resourceSelector: $selector) {
    ... on ResourceDetails { configuredValues { key value type } }
    ... on PythonError { message }
  }
}
"""


class DagsterWebserver:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def query(self, query: str, **variables: Any) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def wait_until_loaded(self, timeout: float = 180) -> tuple[str, str]:
        """Wait for the server and its code location; returns (location, repository)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                entries = self.query(WORKSPACE)["workspaceOrError"]["locationEntries"]
            except (urllib.error.URLError, ConnectionError):
                entries = []
            if entries and entries[0]["loadStatus"] == "LOADED":
                location = entries[0]["locationOrLoadError"]
                assert location["__typename"] == "RepositoryLocation", location
                return location["name"], location["repositories"][0]["name"]
            time.sleep(0.5)
        raise TimeoutError(f"{self.url} did not load its code location in {timeout} s")

    def stop_sensors(self, location: str, repository: str) -> list[str]:
        selector = {"repositoryLocationName": location, "repositoryName": repository}
        sensors = self.query(SENSORS, selector=selector)["sensorsOrError"]["results"]
        for sensor in sensors:
            if sensor["sensorState"]["status"] == "RUNNING":
                self.query(STOP_SENSOR, id=sensor["sensorState"]["id"])
        return [sensor["name"] for sensor in sensors]

    def materialize_all(self, tags: dict[str, str] | None = None) -> str:
        """Launch what "Materialize all" launches: every executable asset and its checks (with
        the run `tags` the launchpad can add)."""
        nodes = [
            node
            for node in self.query(ASSET_GRAPH)["assetNodes"]
            if node["isExecutable"] and not node["isObservable"]
        ]
        repository = nodes[0]["repository"]
        params = {
            "mode": "default",
            "executionMetadata": {
                "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()]
            },
            "runConfigData": "{}",
            "selector": {
                "repositoryLocationName": repository["location"]["name"],
                "repositoryName": repository["name"],
                "pipelineName": "__ASSET_JOB",
                "assetSelection": [{"path": node["assetKey"]["path"]} for node in nodes],
                "assetCheckSelection": [
                    {"name": check["name"], "assetKey": {"path": node["assetKey"]["path"]}}
                    for node in nodes
                    for check in node["assetChecksOrError"]["checks"]
                ],
            },
        }
        result = self.query(LAUNCH, executionParams=params)["launchPipelineExecution"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["id"]

    def run_times(self, run_id: str) -> tuple[float, float]:
        """When a finished run started and ended, in seconds since the epoch."""
        run = self.query(RUN_TIMES, id=run_id)["runOrError"]
        return run["startTime"], run["endTime"]

    def wait_for_run(self, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.query(RUN_STATUS, id=run_id)["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            time.sleep(1)
        raise TimeoutError(f"run {run_id} did not finish in {timeout} s")
