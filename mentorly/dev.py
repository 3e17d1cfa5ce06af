"""`make dev`: migrate, then run the local Clerk emulator and the app together.

The app serves http://127.0.0.1:5000 and the emulator http://127.0.0.1:5001 (MENTORLY_PORT and
EMULATOR_PORT change them). The emulator signs users in and sends its webhooks to the app, so
sign-up, onboarding and settings work end to end with no Clerk account and no tunnel.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from flask_migrate import upgrade

from . import MIGRATIONS, create_app
from .config import EMULATOR_HOST, EMULATOR_PORT


def _wait_until_up(url: str, process: subprocess.Popen, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the Clerk emulator stopped (exit code {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SystemExit(f"the Clerk emulator did not answer at {url}")


def main() -> None:
    if os.environ.get("MENTORLY_ENV", "development") == "production":
        raise SystemExit("make dev is for development; production runs gunicorn (see README)")
    app_port = int(os.environ.get("MENTORLY_PORT", "5000"))
    emulator_port = int(os.environ.get("EMULATOR_PORT", str(EMULATOR_PORT)))
    app_url = f"http://127.0.0.1:{app_port}"
    emulator_url = f"http://{EMULATOR_HOST}:{emulator_port}"

    env = dict(os.environ)
    if emulator_port != EMULATOR_PORT:
        host = f"{EMULATOR_HOST}:{emulator_port}$".encode()
        env["CLERK_PUBLISHABLE_KEY"] = "pk_test_" + base64.b64encode(host).decode().rstrip("=")
        env["CLERK_API_URL"] = f"{emulator_url}/v1"
    os.environ.update(env)

    app = create_app()
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))

    state_dir = Path(app.instance_path) / "emulator"
    emulator = subprocess.Popen(
        [
            sys.executable, "-m", "mentorly.emulator",
            "--host", EMULATOR_HOST,
            "--port", str(emulator_port),
            "--state-dir", str(state_dir),
            "--webhook-url", f"{app_url}/api/webhooks/clerk",
            "--app-url", app_url,
        ],
        env=env,
    )
    processes = [emulator]
    try:
        _wait_until_up(f"{emulator_url}/v1/jwks", emulator)
        print(f"\n  Mentorly:        {app_url}\n  Clerk emulator:  {emulator_url}\n", flush=True)
        app = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "mentorly", "run", "--debug",
             "--host", "127.0.0.1", "--port", str(app_port)],
            env=env,
        )
        processes.append(app)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
