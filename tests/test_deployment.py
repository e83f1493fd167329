"""The deployment starts: docker/compose.yml and docker/Dockerfile agree with the code.

No Docker engine here, so the files are checked by parsing them: every Airflow connection the
code reads is passed to every Airflow service; the JWT secret and the Fernet key are the same
everywhere; each component runs the command `eduhub.airflow_services` runs (the one the live
tests run); services wait for `init` and for healthy databases; the UI is published on the
loopback interface only; the state the package writes lives on volumes; the image installs the
runtime requirements only and sets every telemetry switch and the masking logging config. When
the `docker compose` plugin is present, it validates the file as well. Plus the pseudonym key
read from a Docker secret file (`EDUHUB_PSEUDONYM_KEY_FILE`).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
import yaml

from eduhub import airflow_services, runtime, settings, warehouse
from eduhub.identity import person
from eduhub.pipelines import identity as identity_tasks

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yml"
DOCKERFILE = DOCKER / "Dockerfile"
ENV_EXAMPLE = DOCKER / "secrets.env.example"
PACKAGE = ROOT / "plugins" / "eduhub"
DAGS = ROOT / "dags"
DATABASES = {"airflow-db", "redis"}
# the dashboard: the platform's image, but no Airflow process (its own test below)
DASHBOARD = "web"
DEV_PACKAGES = ("pytest", "ruff", "sqlfluff", "playwright", "aiosmtpd")
# settings.py paths the tasks write or read, and the variable that places each
STATE_PATHS = {"DROP_DIR": "EDUHUB_DROP_DIR", "DATA_DOCS_DIR": "EDUHUB_DATA_DOCS_DIR",
               "REPORTS_DIR": "EDUHUB_REPORTS_DIR"}
REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)(?::?[?-][^}]*)?\}$")


# --- reading the files ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def airflow(services) -> dict:
    """The services running Airflow (all but the two databases and the dashboard)."""
    return {name: s for name, s in services.items()
            if name not in DATABASES and name != DASHBOARD}


@pytest.fixture(scope="module")
def workers(airflow) -> dict:
    prefix = ["airflow", *airflow_services.CELERY_WORKER_COMMAND]
    return {n: s for n, s in airflow.items() if s.get("command", [])[:len(prefix)] == prefix}


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1]) for i in joined]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            env.update(token.split("=", 1) for token in shlex.split(args))
    return env


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            values[name.strip()] = value
    return values


@functools.cache
def connection_ids() -> frozenset[str]:
    """Every Airflow connection the code reads: the settings' *_CONN_ID constants, any
    AIRFLOW_CONN_<ID> the package or the DAGs name, any `...conn_id="..."` given literally."""
    ids = {value for name, value in vars(settings).items() if name.endswith("_CONN_ID")}
    for path in [*PACKAGE.rglob("*.py"), *DAGS.glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        ids |= {m.lower() for m in re.findall(r"AIRFLOW_CONN_([A-Z][A-Z0-9_]*)", text)}
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.keyword) and node.arg and node.arg.endswith("conn_id")
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                ids.add(node.value.value)
    return frozenset(ids)


def referenced_variable(value: str) -> str:
    """The variable of the env file a compose value is taken from (`${NAME:?...}`)."""
    found = REFERENCE.match(value)
    assert found, f"{value!r} is not taken from the env file"
    return found.group(1)


# --- connections and secrets ---------------------------------------------------------------------

def test_the_connection_ids_are_found():
    assert {settings.WAREHOUSE_CONN_ID, settings.SMS_VENDOR_A_CONN_ID, settings.SMS_VENDOR_B_CONN_ID,
            settings.POPULATION_CONN_ID, settings.PCGD_CONN_ID,
            settings.SCHOOL_REGISTRY_CONN_ID} <= connection_ids()


def test_every_connection_is_passed_to_every_airflow_service(airflow):
    example = env_file(ENV_EXAMPLE)
    for conn_id in sorted(connection_ids()):
        name = f"AIRFLOW_CONN_{conn_id.upper()}"
        for service_name, service in airflow.items():
            env = environment(service)
            assert name in env, f"{service_name} lacks {name}"
            assert referenced_variable(env[name]) == name
        assert name in example, f"{ENV_EXAMPLE.name} does not list {name}"


@pytest.mark.parametrize("name", ["AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"])
def test_every_component_shares_the_jwt_secret_and_the_fernet_key(airflow, name):
    values = {service_name: environment(s).get(name) for service_name, s in airflow.items()}
    assert None not in values.values(), f"{name} missing in {values}"
    assert len(set(values.values())) == 1, values
    assert referenced_variable(next(iter(values.values()))) == name
    assert name in env_file(ENV_EXAMPLE)


def test_the_airflow_services_share_one_configuration(airflow):
    envs = [environment(s) for s in airflow.values()]
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                "AIRFLOW__API__BASE_URL"):
        assert len({env.get(key) for env in envs}) == 1 and envs[0].get(key), key
    assert envs[0]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # the task supervisors reach the execution API of the api-server service
    assert envs[0]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://api-server:8080/execution/"
    assert referenced_variable(envs[0]["AIRFLOW__API__BASE_URL"])
    # a deployment logs users in (all-admins is for a developer's machine only)
    assert {env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS") for env in envs} == {"False"}


def test_the_workers_read_the_pseudonym_key_from_a_docker_secret(compose, workers):
    assert workers
    for name, worker in workers.items():
        (secret,) = worker.get("secrets", [None])
        assert environment(worker).get(person.PSEUDONYM_KEY_FILE_ENV) == f"/run/secrets/{secret}", name
        assert person.PSEUDONYM_KEY_ENV not in environment(worker), "the key itself in the env"
        path = compose["secrets"][secret]["file"]
        assert referenced_variable(path) in env_file(ENV_EXAMPLE)


def test_the_example_env_file_lists_every_variable_and_no_secret():
    text = COMPOSE.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    example = env_file(ENV_EXAMPLE)
    assert used - set(example) == set()
    for name in ("AIRFLOW_DB_PASSWORD", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        assert "change-me" in example[name]
    for name, value in example.items():
        if name.startswith("AIRFLOW_CONN_") and value:
            conn = json.loads(value)
            assert conn.get("password", "change-me").startswith("change-me"), name
            assert conn["host"].endswith(".example.invalid"), name


# --- commands, dependencies, health --------------------------------------------------------------

def test_each_component_runs_the_command_of_airflow_services(services, airflow, workers):
    for name, command in airflow_services.COMPONENT_COMMANDS.items():
        assert name in services, f"component {name} missing"
        assert services[name]["command"] == ["airflow", *command], name
    assert len(workers) >= 2
    names = []
    for name, worker in workers.items():
        options = worker["command"][1 + len(airflow_services.CELERY_WORKER_COMMAND):]
        assert "-H" in options, f"{name} has no -H"
        names.append(options[options.index("-H") + 1])
    # distinct Celery node names, each on its container's host name
    assert len(set(names)) == len(names) and all(n.endswith("@%h") for n in names), names
    others = set(airflow) - set(airflow_services.COMPONENT_COMMANDS) - set(workers) - {"init"}
    assert not others, f"services running something else: {others}"


def test_init_runs_exactly_the_init_commands(services):
    shell, flags, script = services["init"]["command"]
    assert shell == "bash" and "e" in flags.lstrip("-")
    lines = [shlex.split(line) for line in script.splitlines() if line.strip()]
    assert lines == [["airflow", *command] for command in airflow_services.INIT_COMMANDS]
    assert services["init"].get("restart") == "no"


def test_components_wait_for_init_and_healthy_databases(services, airflow):
    for name, service in airflow.items():
        depends = service.get("depends_on")
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        assert depends["airflow-db"] == {"condition": "service_healthy"}, name
        if name != "init":
            assert depends["redis"] == {"condition": "service_healthy"}, name
            assert depends["init"] == {"condition": "service_completed_successfully"}, name
        for target, condition in depends.items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}: no check"
    assert "pg_isready" in services["airflow-db"]["healthcheck"]["test"]
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert any("/api/v2/monitor/health" in part
               for part in services["api-server"]["healthcheck"]["test"])


def test_ports_are_published_on_the_loopback_only(services):
    published = []
    for name, service in services.items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert str(port).startswith("127.0.0.1:"), (name, port)
            published.append((name, port))
    assert published == [("api-server", "127.0.0.1:8080:8080"), ("web", "127.0.0.1:8090:8090")]


def test_the_dashboard_has_the_warehouses_address_and_no_secret(services):
    web = services[DASHBOARD]
    assert web["command"][:2] == ["eduhub", "web"] and "--secure-cookies" in web["command"]
    env = environment(web)
    assert set(env) == {"EDUHUB_WAREHOUSE_URL", "EDUHUB_AIRFLOW_API_URL", "EDUHUB_AIRFLOW_UI_URL",
                        "EDUHUB_AIRFLOW_API_USERNAME", "EDUHUB_AIRFLOW_API_PASSWORD"}
    # Airflow's API on the compose network; its viewer account's password only from the env file
    assert env["EDUHUB_AIRFLOW_API_URL"] == "http://api-server:8080"
    assert REFERENCE.match(env["EDUHUB_AIRFLOW_API_PASSWORD"])
    assert web["depends_on"]["api-server"] == {"condition": "service_healthy"}
    example = env_file(ENV_EXAMPLE)
    viewer = example[REFERENCE.match(env["EDUHUB_AIRFLOW_API_USERNAME"]).group(1)]
    assert f"{viewer}:viewer" in example["EDUHUB_UI_USERS"].split(",")
    variable = REFERENCE.match(env["EDUHUB_WAREHOUSE_URL"]).group(1)
    address = warehouse.WarehouseUrl.parse(example[variable])
    assert address.password == "" and address.user == ""
    assert "secrets" not in web and "/dang-nhap" in " ".join(web["healthcheck"]["test"])


# --- state on volumes ----------------------------------------------------------------------------

def mount_targets(compose, service: dict) -> dict[str, str]:
    """target -> source of a service's volumes; a named source must be declared."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = re.match(r"^(\$\{[^}]*\}|[^:]+):([^:]+)", volume).groups()
        default = re.match(r"^\$\{[A-Z_0-9]+:-([^}]+)\}$", source)
        name = default.group(1) if default else source
        if not name.startswith(("/", ".")):
            assert name in (compose.get("volumes") or {}), f"volume {name} not declared"
        mounts[target] = source
    return mounts


def on_a_volume(path: str, mounts: dict[str, str]) -> bool:
    return any(path == target or path.startswith(target.rstrip("/") + "/") for target in mounts)


def test_state_lives_on_volumes(compose, services, airflow, workers):
    image_env = dockerfile_env()
    # where the package puts its state under the image's environment (GX keeps the validation
    # results its Data Docs are built from beside them)
    probe = ("import json; from eduhub import settings, validation; print(json.dumps("
             f"{{**{{n: str(getattr(settings, n)) for n in {sorted(STATE_PATHS)!r}}}, "
             "'gx': [str(p) for p in validation.gx_paths()]}))")
    env = {"PATH": os.environ.get("PATH", ""), **image_env}
    paths = json.loads(subprocess.run([sys.executable, "-c", probe], env=env, check=True,
                                      capture_output=True, text=True).stdout)
    for attribute, variable in STATE_PATHS.items():
        assert paths[attribute] == image_env[variable]
    written = [paths[attribute] for attribute in STATE_PATHS] + paths["gx"]
    for name, worker in workers.items():
        mounts = mount_targets(compose, worker)
        for path in written:
            assert on_a_volume(path, mounts), f"{name}: {path} not on a volume"
    logs = image_env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]
    for name, service in airflow.items():
        assert logs in mount_targets(compose, service), f"{name}: logs not on a volume"
    assert "/var/lib/postgresql/data" in mount_targets(compose, services["airflow-db"])
    # the image makes every mount point (a new named volume takes its owner, the image's user)
    made = " ".join(args for instruction, args in dockerfile_instructions()
                    if instruction == "RUN" and "mkdir" in args)
    for service in airflow.values():
        for target in mount_targets(compose, service):
            assert target in made.split(), f"the image does not make {target}"


# --- the image -----------------------------------------------------------------------------------

def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\s\[<>=~!;]", line, maxsplit=1)[0].lower())
    return names


def test_requirements_txt_holds_no_dev_package():
    names = requirement_names(ROOT / "requirements.txt")
    assert "apache-airflow" in names
    assert not names & set(DEV_PACKAGES)
    includes = [line for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
                if line.strip().startswith("-")]
    assert not any("requirements-dev" in line for line in includes)


def test_the_image_installs_the_runtime_requirements_only():
    text = "\n".join(args for _, args in dockerfile_instructions())  # comments left out
    assert "requirements-dev" not in text
    installs = [args for instruction, args in dockerfile_instructions()
                if instruction == "RUN" and "pip install" in args]
    assert installs
    for args in installs:
        for command in args.split("&&"):
            if "pip install" not in command:
                continue
            words = shlex.split(command)[2:]
            assert words in (["-r", "requirements.txt"], ["--no-deps", "."]), command
    for package in DEV_PACKAGES:
        assert not re.search(rf"\b{package}\b", text), package
    instructions = dockerfile_instructions()
    users = [(i, args.strip()) for i, (instruction, args) in enumerate(instructions)
             if instruction == "USER"]
    assert users and users[-1][1] not in ("root", "0")
    # the manifest cosmos renders from is made at build time, as the image's user
    assert any(instruction == "RUN" and "eduhub dbt parse" in args
               for instruction, args in instructions[users[-1][0]:]), "no dbt parse at build"


def test_the_image_sets_every_telemetry_switch_and_the_masking_logging():
    env = dockerfile_env()
    for name, value in runtime.NO_TELEMETRY.items():
        assert env.get(name) == value, name
    assert env["AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS"] == runtime.LOGGING_CONFIG_CLASS
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


def test_the_build_context_leaves_local_state_out():
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "**" and "!.eduhub" not in rules and "!.venv" not in rules


def test_docker_compose_accepts_the_file():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True,
                                    check=False).returncode != 0:
        pytest.skip("the docker compose plugin is absent")
    result = subprocess.run([docker, "compose", "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE),
                             "config", "-q"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# --- the pseudonym key from a secret file --------------------------------------------------------

KEY = "file-pseudonym-key-0123456789"


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "eduhub_pseudonym_key"
    path.write_text(KEY + "\n", encoding="utf-8")
    monkeypatch.delenv(person.PSEUDONYM_KEY_ENV, raising=False)
    monkeypatch.setenv(person.PSEUDONYM_KEY_FILE_ENV, str(path))
    return path


def test_the_pseudonym_key_is_read_from_the_secret_file_and_masked(key_file, monkeypatch):
    masked = []
    # Airflow's own masker (its real import costs seconds; log_masking's tests use it)
    stub = types.ModuleType("airflow.sdk.log")
    stub.mask_secret = lambda value, name=None: masked.append(value)
    monkeypatch.setitem(sys.modules, "airflow.sdk.log", stub)
    assert identity_tasks.pseudonym_key() == KEY.encode()
    assert masked == [KEY]


def test_the_environment_variable_wins_over_the_file(key_file, monkeypatch):
    monkeypatch.setenv(person.PSEUDONYM_KEY_ENV, "environment-key-0123456789")
    assert identity_tasks.pseudonym_key() == b"environment-key-0123456789"


def test_a_short_or_missing_key_file_is_refused_without_showing_it(key_file):
    key_file.write_text("short\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="at least 16") as short:
        identity_tasks.pseudonym_key()
    assert "short" not in str(short.value).replace(str(key_file), "")
    key_file.unlink()
    with pytest.raises(RuntimeError, match="cannot be read"):
        identity_tasks.pseudonym_key()


def test_the_image_leaves_the_sandbox_out(tmp_path):
    """The sandbox is a development package: the image copies neither it nor the whole tree,
    and the package it installs (built here as the image builds it) holds none of it."""
    sources = [shlex.split(args)[:-1] for instruction, args in dockerfile_instructions()
               if instruction == "COPY"]
    assert not any(src in (".", "sandbox") or src.startswith("sandbox/")
                   for srcs in sources for src in srcs)
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    shutil.copytree(ROOT / "plugins", tree / "plugins",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "--quiet", "-w", str(tmp_path / "dist"), str(tree)], check=True)
    (wheel,) = (tmp_path / "dist").glob("eduhub-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # the migrations travel with the package, their revisions and template too
    assert {"eduhub/landing/partition.py", "eduhub/migrations/env.py",
            "eduhub/migrations/versions/0001_baseline.py",
            "eduhub/migrations/script.py.mako"} <= set(names)
    assert not [n for n in names if "sandbox" in n]


def test_the_pseudonym_variable_is_hidden_in_the_variables_page():
    """The API model the UI's Variables page reads redacts the key's value by its name: the
    name holds one of Airflow's sensitive words."""
    from airflow.api_fastapi.core_api.datamodels.variables import VariableResponse

    def shown(name: str) -> str:
        return VariableResponse(key=name, value=KEY, description=None, is_encrypted=True,
                                team_name=None).val

    assert shown(identity_tasks.PSEUDONYM_KEY_VARIABLE) == "***"
    assert shown("eduhub_pseudonym_key") == KEY  # the earlier name: shown in clear
