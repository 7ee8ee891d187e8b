#!/usr/bin/env python3
"""One entry point for newcomers and CI: needs only Python 3.11+.

    python3 scripts/dev.py run    # set up .venv, then start platform + sandbox EHR + example app
    python3 scripts/dev.py test   # set up .venv, then lint, type-check and run every test

Setup creates `.venv` beside this repository's root and installs the server, the SDK and the
development tools pinned by `constraints.txt`. It is idempotent and fast when nothing changed.

The test command runs the storage and API suites on SQLite and on PostgreSQL. PostgreSQL comes
from `EHRCONNECT_TEST_DATABASE_URL` when set; otherwise, when the PostgreSQL server binaries are
installed (Debian: `apt-get install postgresql`), a throwaway cluster is started for the run.
With `CI=true` a missing PostgreSQL or Chromium is an error instead of a skip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PY = BIN / "python"
STAMP = VENV / ".ehrconnect-setup"
INPUTS = [
    ROOT / "server" / "pyproject.toml",
    ROOT / "sdk" / "pyproject.toml",
    ROOT / "requirements-dev.txt",
    ROOT / "constraints.txt",
    ROOT / "examples" / "trialmatched" / "pyproject.toml",
]


def _say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def _run(cmd: list[str], **kwargs: object) -> None:
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def _quiet(cmd: list[str]) -> None:
    """Run an install step, showing its (noisy) output only when it fails."""
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        print(result.stdout, file=sys.stderr)
        raise SystemExit(f"[dev] install step failed: {' '.join(cmd)}")


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in INPUTS:
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def setup() -> None:
    """Create .venv and install everything, unless the inputs are unchanged since last time."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script is what tells a user their Python is too old
        sys.exit("ehrconnect needs Python 3.11 or newer")
    if not PY.exists():
        _say(f"creating virtual environment in {VENV}")
        _run([sys.executable, "-m", "venv", str(VENV)])
    wanted = _inputs_digest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    _say("installing server, SDK and development tools (first run takes a minute)")
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    constraints = ["-c", str(ROOT / "constraints.txt")] if (ROOT / "constraints.txt").exists() else []
    _quiet([*pip, "--upgrade", "pip"])
    _quiet(
        [
            *pip,
            *constraints,
            "-e",
            str(ROOT / "server"),
            "-e",
            str(ROOT / "sdk"),
            "-e",
            str(ROOT / "examples" / "trialmatched"),
            "-r",
            str(ROOT / "requirements-dev.txt"),
        ]
    )
    STAMP.write_text(wanted)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temporary directory, on a free loopback port."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="ehrconnect-pg-"))
        self.port = _free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")

    def start(self) -> str:
        data = self.dir / "data"
        _run([*self.as_user, str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres",
              "--auth=trust", "-E", "UTF8"], stdout=subprocess.DEVNULL)
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off " \
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        _run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w",
              "-l", str(self.dir / "log"), "start"], stdout=subprocess.DEVNULL)
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "stop"], stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def test(extra: list[str]) -> int:
    setup()
    env = dict(os.environ)
    ci = env.get("CI", "").lower() == "true"
    steps = [
        ("ruff", [str(BIN / "ruff"), "check", "."]),
        ("mypy", [str(BIN / "mypy")]),
    ]
    for name, cmd in steps:
        _say(f"{name} ...")
        if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
            _say(f"{name} failed")
            return 1
    cluster: ThrowawayPostgres | None = None
    if not env.get("EHRCONNECT_TEST_DATABASE_URL"):
        bindir = _postgres_bin()
        if bindir is not None:
            cluster = ThrowawayPostgres(bindir)
            env["EHRCONNECT_TEST_DATABASE_URL"] = cluster.start()
            _say(f"started a throwaway PostgreSQL on port {cluster.port}")
        elif ci:
            _say("CI=true but no PostgreSQL found: install it (apt-get install postgresql)")
            return 1
        else:
            _say("PostgreSQL not installed: PostgreSQL variants of the tests will be skipped")
    if ci:
        env["EHRCONNECT_TEST_REQUIRE_ALL"] = "1"
    try:
        started = time.monotonic()
        code = subprocess.run([str(PY), "-m", "pytest", *extra], cwd=ROOT, env=env).returncode
        _say(f"pytest finished in {time.monotonic() - started:.0f}s with exit code {code}")
        return code
    finally:
        if cluster is not None:
            cluster.stop()


DEMO_ORG = "demo"


def _demo_key(env: dict[str, str], data_dir: Path) -> str:
    """The demo sandbox key: minted once, kept in the (git-ignored) data dir with mode 0600."""
    import json

    key_file = data_dir / "demo-sandbox-key.json"
    if key_file.exists():
        stored = json.loads(key_file.read_text())
        listed = subprocess.run([str(BIN / "ehrconnect"), "keys", "list", "--org", DEMO_ORG, "--json"],
                                env=env, check=True, capture_output=True, text=True).stdout
        if any(k["id"] == stored["id"] and k["state"] == "active" for k in json.loads(listed)):
            return str(stored["key"])
    created = subprocess.run(
        [str(BIN / "ehrconnect"), "keys", "create", "--org", DEMO_ORG, "--env", "sandbox", "--json"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    key_file.write_text(created)
    key_file.chmod(0o600)
    return str(json.loads(created)["key"])


def _local_secret(path: Path) -> str:
    """A random secret kept in the data dir, so sign-ins survive a restart of the demo."""
    import secrets

    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def run(extra: list[str]) -> int:
    """Platform (API + hosted pages + sandbox EHR + embedded worker) and the example app."""
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/dev.py run")
    parser.add_argument("--port", type=int, default=8000, help="platform port")
    parser.add_argument("--app-port", type=int, default=8001, help="example app port")
    args = parser.parse_args(extra)
    setup()
    data_dir = ROOT / "data"
    data_dir.mkdir(exist_ok=True)
    platform_url = f"http://127.0.0.1:{args.port}"
    app_url = f"http://127.0.0.1:{args.app_port}"
    env = dict(os.environ)
    env.setdefault("EHRCONNECT_DATA_DIR", str(data_dir))
    env.setdefault("EHRCONNECT_PUBLIC_URL", platform_url)
    _run([str(BIN / "ehrconnect"), "db", "upgrade"], env=env)
    key = _demo_key(env, data_dir)
    app_env = dict(env, EHRCONNECT_API_KEY=key, EHRCONNECT_API_URL=platform_url,
                   TRIALMATCHED_PUBLIC_URL=app_url,
                   TRIALMATCHED_DATABASE=str(data_dir / "trialmatched.sqlite3"),
                   TRIALMATCHED_SECRET_KEY=_local_secret(data_dir / "trialmatched-secret"))
    procs = [
        subprocess.Popen([str(BIN / "ehrconnect"), "serve", "--port", str(args.port)], env=env),
        subprocess.Popen([str(BIN / "trialmatched"), "--port", str(args.app_port)], env=app_env),
    ]
    try:
        _wait_healthy(f"{platform_url}/health", procs[0])
        _wait_healthy(f"{app_url}/", procs[1])
        print(f"""
ehrconnect is running (Ctrl-C stops everything)

  Example app (TrialMatched)   {app_url}
  Platform API                 {platform_url}
  API reference (offline)      {platform_url}/docs
  Sandbox EHR (normal profile) {platform_url}/sandbox-ehr/normal/fhir
  Sandbox API key (demo org)   {key}

  Try:  curl -H "Authorization: Bearer {key}" "{platform_url}/connections?q=sandbox"
  Sandbox patients and their passwords are listed on the sandbox sign-in page.
""", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"setup", "run", "test"}:
        print(__doc__)
        return 2
    command, extra = sys.argv[1], sys.argv[2:]
    if command == "setup":
        setup()
        return 0
    if command == "run":
        return run(extra)
    return test(extra)


if __name__ == "__main__":
    sys.exit(main())
