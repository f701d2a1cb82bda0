"""The `package` row of the verify matrix: the crate proven the way its users get it.

Package both crates (cargo verifies the packed files build on their own), publish them to
a real registry server on 127.0.0.1, then build an application outside this repository
that names only `tflm = "=<version>"` (consumer.py), for the host and three Cortex-M
targets, with no bindbot on PATH and no BINDBOT_*/TFLM_* variables; run it on the host and
on QEMU's M4F, where its outputs must equal the reference.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bindbot.errors import BindbotError
from bindbot.package.crate import Package
from bindbot.package.publish import Registry, describe, publish
from bindbot.runner import Runner
from bindbot.verify import consumer
from bindbot.verify.matrix import QEMU_TIMEOUT_S, Step, first_errors, qemu_command
from bindbot.verify.registry import LocalRegistry, local_registry
from bindbot.verify.targets import MPS2, TARGETS, Target
from bindbot.verify.toolchain import route

ROW = "package"


@dataclass(frozen=True)
class UserFlow:
    runner: Runner
    work: Path  # a folder of its own (registry root, application, cargo home)
    registry_tool: str
    spec: consumer.Spec
    stamp: str
    env: dict[str, str]
    progress: Callable[[str], None] = lambda _: None

    def _timed(self, step: str, fn: Callable[[], tuple[bool, str]]) -> Step:
        self.progress(f"{ROW}: {step}")
        start = time.monotonic()
        try:
            ok, detail = fn()
        except BindbotError as exc:
            ok, detail = False, exc.one_line()
        done = Step(ROW, step, ok, round(time.monotonic() - start, 1), detail)
        self.progress(f"{ROW}: {step} {'ok' if ok else 'FAILED'} ({done.seconds} s)")
        return done

    def run(self, make_package: Callable[[], Package]) -> tuple[list[Step], Package | None]:
        made: list[Package] = []

        def package() -> tuple[bool, str]:
            made.append(make_package())
            return True, made[0].summary()

        steps = [self._timed("package", package)]
        if not made:
            return steps, None
        pkg = made[0]
        with local_registry(self.work / "registry", self.registry_tool) as registry:
            steps.append(self._timed("publish", lambda: self._publish(pkg, registry)))
            if not steps[-1].ok:
                return steps, pkg
            version = next(c.version for c in pkg.crates if c.name == "tflm")
            boards = {
                t.triple: (t.cores[0].memory if t.cores else MPS2)
                for t in TARGETS
                if t.triple in consumer.CONSUMER_TRIPLES
            }
            app = consumer.write_app(
                self.work / "app",
                self.spec,
                version,
                registry.name,
                registry.index,
                boards,
                self.stamp,
            )
            steps.append(self._timed("consumer host", lambda: self._host(app)))
            for target in TARGETS:
                # The first failure is the report: later steps would only repeat it.
                if not steps[-1].ok:
                    break
                if target.triple in consumer.CONSUMER_TRIPLES:
                    steps.append(
                        self._timed(
                            f"consumer {target.triple}",
                            lambda target=target: self._cross(app, target),  # type: ignore[misc]
                        )
                    )
                    if target.triple == consumer.QEMU_TRIPLE and steps[-1].ok:
                        steps.append(self._timed("qemu M4F (mps2-an386)", lambda: self._qemu(app)))
        return steps, pkg

    def _user_env(self) -> dict[str, str]:
        env = consumer.user_env(self.env)
        # A cargo home of its own, as a new user has: crates.io's crates are downloaded
        # afresh, and no crate unpacked by an earlier run (cargo never unpacks the same
        # name and version twice) can stand in for the one just published.
        env["CARGO_HOME"] = str(self.work / "cargo-home")
        # No bindbot on PATH: drop every folder that holds a `bindbot` executable.
        path = [p for p in env.get("PATH", "").split(os.pathsep) if not Path(p, "bindbot").exists()]
        env["PATH"] = os.pathsep.join(path)
        return env

    def _publish(self, pkg: Package, registry: LocalRegistry) -> tuple[bool, str]:
        # The same publishing code as a release to crates.io, against a real server.
        result = publish(
            self.runner,
            pkg,
            Registry(registry.name, registry.index),
            "bindbot-local-token",
            progress=self.progress,
            env=self._user_env(),
        )
        return True, "; ".join(describe(result))

    def _host(self, app: Path) -> tuple[bool, str]:
        build = self.runner(
            ["cargo", "build", "--release"], cwd=app, env=self._user_env(), timeout=7200
        )
        if build.returncode != 0:
            return False, first_errors(build)
        result = self.runner(
            [str(app / "target" / "release" / "tflm-consumer")], cwd=app, timeout=600
        )
        summary = _summary(result.stdout + result.stderr)
        return result.returncode == 0, summary or first_errors(result)

    def _cross(self, app: Path, target: Target) -> tuple[bool, str]:
        how = route(self.runner, target)
        shutil.copyfile(consumer.board_map(app, target.triple), app / "memory.x")
        # The user's own linker and flags (rust-lld, cortex-m-rt's script), not the ones
        # bindbot's firmware uses: keep only what selects the compiler and core library.
        env = {
            **self._user_env(),
            **{k: v for k, v in how.env if not k.startswith("CARGO_TARGET_")},
        }
        result = self.runner(
            [how.cargo, "build", "--release", *how.cargo_args], cwd=app, env=env, timeout=7200
        )
        if result.returncode != 0:
            return False, first_errors(result)
        elf = consumer.elf_path(app, target)
        size = self.runner(["arm-none-eabi-size", str(elf)])
        text = size.stdout.splitlines()[-1].split()[:3] if size.returncode == 0 else []
        if not text or int(text[0]) == 0:
            # An image without code links "fine" when cortex-m-rt's script was not applied.
            return False, f"{elf.name} has no code (was link.x applied?): {size.stdout.strip()}"
        return True, f"{how.describe()}; text+data+bss {'+'.join(text)}"

    def _qemu(self, app: Path) -> tuple[bool, str]:
        target = next(t for t in TARGETS if t.triple == consumer.QEMU_TRIPLE)
        core = target.cores[0]
        result = self.runner(
            qemu_command(core, consumer.elf_path(app, target)), timeout=QEMU_TIMEOUT_S
        )
        summary = _summary(result.stdout + result.stderr)
        return result.returncode == 0, summary or first_errors(result)


def _summary(text: str) -> str:
    """The application's closing line ("...: 4 of 4 cases equal to reference")."""
    found = re.findall(r"^.*cases equal to reference.*$", text, re.M)
    problems = re.findall(r"^.*(?:DIFFERENT|error|rejected|interpreter:|panicked).*$", text, re.M)
    return "; ".join((found[-1:] + problems)[:4])
