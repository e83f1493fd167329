"""Start the sandbox simulators as a separate process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path

from eduhub import settings
from eduhub.runtime import SourceEndpoint

CLIENT_ID_ENV = "EDUHUB_SANDBOX_CLIENT_ID"
CLIENT_SECRET_ENV = "EDUHUB_SANDBOX_CLIENT_SECRET"

# The simulators' timeout fault hangs for 6 s: clients of the sandbox give up sooner.
SANDBOX_READ_TIMEOUT = 3.0


@contextlib.contextmanager
def running_simulators(data_dir: Path, faults: str = "none", seed: int = 0, port: int = 0,
                       credentials: tuple[str, str] | None = None,
                       ) -> Generator[dict[str, SourceEndpoint]]:
    """Serve `data_dir` over HTTP; yields the endpoints by Airflow connection id.

    Vendor A authenticates with login/password (client id and secret); the API-key sources
    carry their key as the connection's password, with an empty login. The same `port` and
    `credentials` bring back the same endpoints (a source that was down and comes back).
    """
    from eduhub_sandbox.server import Credentials

    client_id, secret = credentials or ("eduhub-sandbox", secrets.token_urlsafe(24))
    env = {**os.environ, CLIENT_ID_ENV: client_id, CLIENT_SECRET_ENV: secret}
    proc = subprocess.Popen(
        [sys.executable, "-m", "eduhub.cli", "sandbox", "serve", "--data", str(data_dir),
         "--port", str(port), "--faults", faults, "--seed", str(seed)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            raise RuntimeError(f"the sandbox did not start (exit code {proc.poll()})")
        port = int(match.group(1))
        credentials = Credentials(client_id, secret)

        def keyed(service: str, base_path: str) -> SourceEndpoint:
            return SourceEndpoint("127.0.0.1", port, "http", base_path, "",
                                  credentials.api_key(service), SANDBOX_READ_TIMEOUT)

        yield {
            settings.SMS_VENDOR_A_CONN_ID: SourceEndpoint(
                "127.0.0.1", port, "http", "/vendor-a/api/v1", client_id, secret,
                SANDBOX_READ_TIMEOUT),
            settings.SMS_VENDOR_B_CONN_ID: keyed("sms_vendor_b", "/vendor-b/api"),
            settings.POPULATION_CONN_ID: keyed("population", "/population/api/v1"),
            settings.PCGD_CONN_ID: keyed("pcgd", "/pcgd/api/v1"),
            settings.SCHOOL_REGISTRY_CONN_ID: keyed("school_registry",
                                                    "/school-registry/api/v1"),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
