"""The GitHub forge: REST API over requests, git push with the token in the environment.

What GitHub documents and this module relies on:
- pull requests: `GET /repos/{o}/{r}/pulls?head={o}:{branch}&state=all` (paginated by the
  `Link` header), `POST .../pulls` (201; 422 when a pull request for that head is open),
  `PATCH .../pulls/{n}`, labels through `PUT .../issues/{n}/labels`;
- issues: `GET .../issues?labels=...&state=open`, `POST .../issues`, `PATCH .../issues/{n}`;
- releases: `GET .../releases/tags/{tag}` (404: none), `POST .../releases` with `tag_name`,
  `target_commitish`, `name` and `body` (201; GitHub creates the tag when it does not exist;
  422 with error code `already_exists` when a release has that tag);
- errors: 401 (bad token), 403 (missing permission, or a rate limit when
  `x-ratelimit-remaining: 0` or `retry-after` is present), 404 (no such repository, or the
  token cannot see it), 422 (validation), 5xx (transient).

The token never appears in a URL, a command line, a log line or an exception: requests get it
as a header, git gets it through `GIT_CONFIG_*` environment variables, and every message that
leaves this module passes through `redact`.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from bindbot.errors import ForgeError, PullExistsError
from bindbot.forge import Commit, Issue, Pull, Release, ReleaseExistsError
from bindbot.log import info
from bindbot.runner import Runner

API_VERSION = "2022-11-28"
#: Attempts per request (the first try and the retries) for 5xx, timeouts and rate limits.
ATTEMPTS = 5
#: A rate limit that resets later than this is reported instead of waited out.
MAX_WAIT_S = 900.0
TIMEOUT_S = 30.0

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHub:
    """A repository on GitHub (or GitHub Enterprise, or a server that behaves like it)."""

    name = "github"

    def __init__(
        self,
        repository: str,
        token: str,
        runner: Runner,
        *,
        project_dir: Path,
        api_url: str = "https://api.github.com",
        remote: str | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout: float = TIMEOUT_S,
    ) -> None:
        if "/" not in repository:
            raise ForgeError(
                f"forge repository {repository!r} is not OWNER/NAME",
                "set BINDBOT_FORGE_REPOSITORY (GitHub Actions sets GITHUB_REPOSITORY)",
            )
        if not token:
            raise ForgeError(
                "no GitHub token",
                "set GITHUB_TOKEN (the workflow passes secrets.GITHUB_TOKEN), or use --dry-run",
            )
        self.owner, self.repo = repository.split("/", 1)
        self.repository = repository
        self._token = token
        self.runner = runner
        self.project_dir = project_dir
        self.api_url = api_url.rstrip("/")
        self.remote = remote or f"https://github.com/{repository}.git"
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "bindbot",
            }
        )
        self.sleep = sleep
        self.clock = clock
        self.timeout = timeout

    # -- the secret -----------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """Remove the token (and its base64 forms, as git would send it) from text."""
        secrets = {self._token, _basic(self._token)}
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- HTTP -------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        """The response, retried as documented above; an error status not in `allow` raises."""
        url = path if path.startswith("http") else f"{self.api_url}{path}"
        what = f"{method} {_strip_query(url)}"
        delay = 1.0
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise ForgeError(
                        f"{what}: no answer after {ATTEMPTS} attempts "
                        f"({self.redact(type(exc).__name__)})",
                        f"check that {self.api_url} is reachable, then run again",
                    ) from None
                info(f"{what}: {type(exc).__name__}, retrying in {delay:.0f} s")
                self.sleep(delay)
                delay *= 2
                continue
            status = response.status_code
            if status < 400 or status in allow:
                return response
            wait = self._rate_limit_wait(response)
            if wait is not None:
                if wait > MAX_WAIT_S or last:
                    raise ForgeError(
                        f"{what}: GitHub rate limit ({status}); it resets in {wait:.0f} s",
                        "run again after the reset, or use a token with a higher limit",
                    )
                info(f"{what}: rate limited ({status}), waiting {wait:.0f} s as GitHub asks")
                self.sleep(wait)
                continue
            if status >= 500 and not last:
                info(f"{what}: {status}, retrying in {delay:.0f} s")
                self.sleep(delay)
                delay *= 2
                continue
            raise self._error(what, response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _rate_limit_wait(self, response: requests.Response) -> float | None:
        """Seconds to wait when `response` is a primary or secondary rate limit, else None."""
        if response.status_code not in (403, 429):
            return None
        headers = response.headers
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(float(retry_after), 0.0)
            except ValueError:
                return 60.0
        if headers.get("x-ratelimit-remaining") == "0":
            reset = headers.get("x-ratelimit-reset")
            try:
                return max(float(reset or 0) - self.clock(), 0.0) + 1.0
            except ValueError:
                return 60.0
        if response.status_code == 429 or "secondary rate limit" in response.text.lower():
            # GitHub documents: without headers, wait at least a minute.
            return 60.0
        return None

    def _error(self, what: str, response: requests.Response) -> ForgeError:
        status = response.status_code
        message = _message(response)
        fixes = {
            401: "the token was rejected: set a valid GITHUB_TOKEN",
            403: "the token lacks permission: the workflow needs `contents: write`, "
            "`pull-requests: write` and `issues: write`",
            404: f"check that {self.repository} exists and the token can see it",
            422: "GitHub rejected the request's content; see the message",
        }
        fix = fixes.get(status, "see GitHub's status page, then run again")
        return ForgeError(self.redact(f"{what}: {status} {message}"), fix)

    def _paged(self, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every item of a listing, following `Link: <...>; rel="next"` headers."""
        out: list[dict[str, Any]] = []
        url: str | None = path
        query: Mapping[str, str] | None = {**params, "per_page": "100"}
        while url:
            response = self._request("GET", url, params=query)
            out.extend(response.json())
            found = _NEXT.search(response.headers.get("link", ""))
            url = found.group(1) if found else None
            query = None  # the next link carries its own query
        return out

    # -- Forge ------------------------------------------------------------------------------
    def pulls(self, branch: str) -> list[Pull]:
        items = self._paged(
            f"/repos/{self.repository}/pulls",
            {
                "head": f"{self.owner}:{branch}",
                "state": "all",
                "sort": "created",
                "direction": "desc",
            },
        )
        # `head` filters on the server; filter again, in case a server ignores it.
        return [_pull(p) for p in items if p.get("head", {}).get("ref", branch) == branch]

    def create_pull(
        self, branch: str, base: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Pull:
        payload = {
            "title": title,
            "head": branch,
            "base": base,
            "body": body,
            "maintainer_can_modify": True,
        }
        try:
            response = self._request("POST", f"/repos/{self.repository}/pulls", json=payload)
        except ForgeError as exc:
            if "422" in exc.problem and "already exists" in exc.problem:
                raise PullExistsError(exc.problem, exc.fix) from None
            raise
        pull = _pull(response.json())
        return self._label(pull, labels)

    def update_pull(self, number: int, title: str, body: str, labels: tuple[str, ...]) -> Pull:
        response = self._request(
            "PATCH", f"/repos/{self.repository}/pulls/{number}", json={"title": title, "body": body}
        )
        return self._label(_pull(response.json()), labels)

    def _label(self, pull: Pull, labels: tuple[str, ...]) -> Pull:
        response = self._request(
            "PUT",
            f"/repos/{self.repository}/issues/{pull.number}/labels",
            json={"labels": list(labels)},
        )
        names = tuple(sorted(item["name"] for item in response.json()))
        return dataclasses.replace(pull, labels=names)

    def issues(self, label: str) -> list[Issue]:
        items = self._paged(
            f"/repos/{self.repository}/issues",
            {"labels": label, "state": "open", "sort": "created", "direction": "desc"},
        )
        # The issues listing includes pull requests; a tracking issue is never one.
        return [_issue(i) for i in items if "pull_request" not in i]

    def create_issue(self, title: str, body: str, labels: tuple[str, ...]) -> Issue:
        response = self._request(
            "POST",
            f"/repos/{self.repository}/issues",
            json={"title": title, "body": body, "labels": list(labels)},
        )
        return _issue(response.json())

    def update_issue(self, number: int, title: str, body: str, *, state: str = "open") -> Issue:
        response = self._request(
            "PATCH",
            f"/repos/{self.repository}/issues/{number}",
            json={"title": title, "body": body, "state": state},
        )
        return _issue(response.json())

    def find_release(self, tag: str) -> Release | None:
        response = self._request(
            "GET", f"/repos/{self.repository}/releases/tags/{quote(tag, safe='')}", allow=(404,)
        )
        if response.status_code == 404:
            return None
        return _release(response.json())

    def release(self, tag: str, name: str, body: str, target_sha: str) -> Release:
        path = f"/repos/{self.repository}/releases"
        payload = {
            "tag_name": tag,
            "target_commitish": target_sha,
            "name": name,
            "body": body,
            "draft": False,
            "prerelease": False,
        }
        response = self._request("POST", path, json=payload, allow=(422,))
        if response.status_code == 422:
            try:
                errors = response.json().get("errors", []) or []
            except (ValueError, AttributeError):
                errors = []
            if any(isinstance(e, dict) and e.get("code") == "already_exists" for e in errors):
                raise ReleaseExistsError(
                    self.redact(f"POST {self.api_url}{path}: 422 a release tagged {tag} exists"),
                    "nothing to do: an earlier run created it",
                )
            raise self._error(f"POST {self.api_url}{path}", response)
        return _release(response.json())

    def push(self, commit: Commit) -> None:
        """Force-push the bot's branch: it owns it, and each run rebuilds it from the base."""
        env = {
            **os.environ,
            # git reads these as `-c` settings; unlike `-c` they are not on the command line.
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{_origin(self.remote)}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {_basic(self._token)}",
            "GIT_TERMINAL_PROMPT": "0",
        }
        result = self.runner(
            [
                "git",
                "push",
                "--force",
                "--quiet",
                self.remote,
                f"{commit.sha}:refs/heads/{commit.branch}",
            ],
            cwd=self.project_dir,
            env=env,
            timeout=600,
        )
        if result.returncode != 0:
            raise ForgeError(
                self.redact(
                    f"git push of {commit.branch} to {self.remote} failed: "
                    f"{result.stderr.strip()[:400]}"
                ),
                "check the token's `contents: write` permission and the remote URL",
            )


def _basic(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


def _origin(url: str) -> str:
    found = re.match(r"(https?://[^/]+)", url)
    return found.group(1) if found else url


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if not isinstance(data, dict):
        return str(data)[:200]
    parts = [str(data.get("message", ""))]
    for err in data.get("errors", []) or []:
        parts.append(str(err.get("message") if isinstance(err, dict) else err))
    return "; ".join(p for p in parts if p)[:400]


def _labels(item: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(label["name"] for label in item.get("labels", []) or []))


def _pull(item: Mapping[str, Any]) -> Pull:
    return Pull(
        number=int(item["number"]),
        url=str(item.get("html_url", "")),
        state=str(item["state"]),
        merged=bool(item.get("merged_at")),
        title=str(item.get("title", "")),
        body=str(item.get("body") or ""),
        labels=_labels(item),
    )


def _issue(item: Mapping[str, Any]) -> Issue:
    return Issue(
        number=int(item["number"]),
        url=str(item.get("html_url", "")),
        state=str(item["state"]),
        title=str(item.get("title", "")),
        body=str(item.get("body") or ""),
        labels=_labels(item),
    )


def _release(item: Mapping[str, Any]) -> Release:
    return Release(
        tag=str(item["tag_name"]),
        name=str(item.get("name") or ""),
        body=str(item.get("body") or ""),
        url=str(item.get("html_url", "")),
        target=str(item.get("target_commitish") or ""),
    )
