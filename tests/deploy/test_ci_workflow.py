""".github/workflows/ci.yml runs the Makefile targets developers run, builds
the image README documents, and pushes only from tags."""

from __future__ import annotations

import re

import pytest
import yaml
from dockerfile_model import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (REPO / "Makefile").read_text(), re.MULTILINE))


def test_pipeline_has_the_stages_of_the_issue(workflow):
    jobs = workflow["jobs"]
    assert {"lint", "test", "test-cluster", "hadolint", "manifests", "image"} <= jobs.keys()
    expected = {"lint": "make lint", "test": "make test", "test-cluster": "make test-cluster",
                "hadolint": "make lint-docker", "manifests": "make validate-k8s", "image": "make image"}
    for job, command in expected.items():
        assert any(run.strip() == command or run.startswith(command + "\n") for run in _runs(jobs[job])), job
    assert set(jobs["image"]["needs"]) == {"lint", "test", "test-cluster", "hadolint", "manifests"}


def test_every_make_target_the_pipeline_calls_exists(workflow):
    targets = _makefile_targets()
    called = {t for job in workflow["jobs"].values() for run in _runs(job) for t in re.findall(r"\bmake (\S+)", run)}
    assert called and called <= targets, called - targets


def test_make_image_builds_the_tag_readme_and_manifest_use():
    makefile = (REPO / "Makefile").read_text()
    tag = re.search(r"^IMAGE \?= (\S+)", makefile, re.MULTILINE).group(1)
    assert re.search(r"^image:\n\tdocker build -t \$\(IMAGE\) \.$", makefile, re.MULTILINE)
    assert f"docker build -t {tag} ." in (REPO / "README.md").read_text()
    assert f"image: {tag}" in (REPO / "k8s" / "manifest.yaml").read_text()


def test_image_is_pushed_to_ghcr_only_from_tags(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and "tags" in triggers["push"]
    image = workflow["jobs"]["image"]
    assert image["permissions"]["packages"] == "write"
    pushes = [s for s in image["steps"] if "docker push" in s.get("run", "")]
    assert len(pushes) == 1
    assert pushes[0]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert "ghcr.io" in pushes[0]["run"] and "secrets.GITHUB_TOKEN" in str(pushes[0]["env"])
    assert workflow["jobs"]["deploy"]["if"] == "startsWith(github.ref, 'refs/tags/v')"


def test_deploy_rolls_back_a_rollout_that_does_not_become_ready(workflow):
    script = "\n".join(_runs(workflow["jobs"]["deploy"]))
    assert "rollout status" in script and "rollout undo deployment/sensorhub" in script
