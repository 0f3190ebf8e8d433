"""The Action's comment step: one sticky pull-request comment with the markdown plan.

The comment is found again by a hidden marker and updated in place, so a pull request has one
plan comment that always shows the plan of its latest commit. Standard library only: it runs
with the runner's own python3, before or without reconciler's dependencies.

Reads the environment a GitHub runner sets (GITHUB_API_URL, GITHUB_REPOSITORY,
GITHUB_EVENT_PATH, GITHUB_SERVER_URL, GITHUB_RUN_ID) plus GITHUB_TOKEN, PLAN_MARKDOWN (the
plan file) and PLAN_EXITCODE (0 or 2 when the plan succeeded). A token that may not comment
(a pull request from a fork gets a read-only one) is a warning, not a failure: the plan is in
the step summary either way.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- reconciler-plan -->"
# GitHub rejects bodies over 65,536 UTF-16 code units; reconciler keeps its markdown within
# 60,000, so this cut is only a last resort for markdown that did not come from reconciler.
LIMIT = 65_000


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int = LIMIT) -> str:
    """``text`` within ``limit`` UTF-16 units, never splitting a character, noting the cut."""
    if utf16_units(text) <= limit:
        return text
    kept, units = [], 0
    for char in text:
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            break
        kept.append(char)
    return "".join(kept) + "\n\n_Truncated: the full plan is in the job's step summary._"


def body(env: dict[str, str], head: str) -> str:
    status = env.get("PLAN_EXITCODE", "")
    if status in ("0", "2"):
        plan = Path(env["PLAN_MARKDOWN"]).read_text(encoding="utf-8")
    else:
        repository = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}"
        log = f"{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
        plan = f"**The plan failed.** See the [job log]({log})."
    return f"{MARKER}\nPlan for {head[:7]}:\n\n{cut(plan)}"


class GitHub:
    """The few REST calls the comment needs, with the job's token."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 (the URL is the runner's API URL)
            self.api_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
                "User-Agent": "reconciler-action",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.load(response)

    def comments(self, issues: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.call("GET", f"{issues}/comments?per_page=100&page={page}")
            found += batch
            if len(batch) < 100:
                return found
            page += 1


def main(env: dict[str, str]) -> int:
    event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
    pull = event.get("pull_request")
    if not pull:
        print("not a pull request: no comment to post")
        return 0
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        print(
            "::warning title=reconciler action::no github-token: "
            "the plan is only in the step summary"
        )
        return 0
    github = GitHub(env["GITHUB_API_URL"], token)
    issues = f"/repos/{env['GITHUB_REPOSITORY']}/issues/{pull['number']}"
    text = body(env, pull["head"]["sha"])
    try:
        previous = next(
            (
                c
                for c in github.comments(issues)
                if c.get("user", {}).get("type") == "Bot" and MARKER in c.get("body", "")
            ),
            None,
        )
        if previous:
            github.call(
                "PATCH",
                f"/repos/{env['GITHUB_REPOSITORY']}/issues/comments/{previous['id']}",
                {"body": text},
            )
            print(f"updated the plan comment {previous['id']}")
        else:
            github.call("POST", f"{issues}/comments", {"body": text})
            print("posted the plan comment")
    except urllib.error.HTTPError as error:
        if error.code in (401, 403, 404):
            # Forks' pull requests get a read-only token; so does a job without
            # `pull-requests: write`.
            print(
                "::warning title=reconciler action::could not comment on the pull request "
                f"(HTTP {error.code}): the token may not write to it (a pull request from a "
                "fork, or a job without permissions: pull-requests: write). "
                "The plan is in the step summary."
            )
            return 0
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))
