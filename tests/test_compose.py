"""The Docker Compose stack, checked without a Docker engine.

docker-compose.yml (CPU) and docker-compose.gpu.yml (override) are validated against the compose-spec JSON schema
(check-jsonschema's vendored copy, so no network), then for what the schema cannot see: depends_on targets and
conditions, healthchecks behind service_healthy, build contexts and Dockerfile targets, that every command is a real
`xclab` command, the GPU reservation, and that the Dockerfile's torch pins match pyproject.toml. When a Compose CLI
is installed, `config -q` (which needs no engine either) runs too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.core import TyperGroup
from typer.main import get_command

from cli.main import app

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "docker-compose.yml"
GPU = ROOT / "docker-compose.gpu.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Any attempt to reach the network from the schema check goes to a closed port and fails.
OFFLINE_ENV = {
    **os.environ,
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
}
# Typer >= 0.29 vendors click (typer._click); take its ClickException from a public class, whichever click it is.
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def merge(base: Any, override: Any) -> Any:
    """Compose's `-f base -f override`: mappings merge key by key, anything else is replaced.

    (Compose merges some sequences, such as ports, by key; no key these tests read depends on that.)
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


CONFIGS = {"base": lambda: load(BASE), "base+gpu": lambda: merge(load(BASE), load(GPU))}


@pytest.fixture(params=sorted(CONFIGS))
def compose(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The project as `docker compose up` sees it: the base file alone, and with the GPU override."""
    return CONFIGS[request.param]()


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {target: condition}, for both the list and the mapping syntax."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {target: (spec or {}).get("condition", "service_started") for target, spec in deps.items()}


def reference_errors(compose: dict[str, Any]) -> list[str]:
    """What the schema cannot catch: depends_on on undefined services, bad conditions, cycles."""
    services = compose.get("services") or {}
    errors = []
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            if target not in services:
                errors.append(f"{name} depends on undefined service {target!r}")
            if condition not in CONDITIONS:
                errors.append(f"{name} -> {target}: unknown condition {condition!r}")
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in done or name not in services:
            return
        if name in visiting:
            errors.append("depends_on cycle: " + " -> ".join([*path, name]))
            return
        visiting.add(name)
        for target in depends_on(services[name]):
            visit(target, [*path, name])
        visiting.discard(name)
        done.add(name)

    for name in services:
        visit(name, [])
    return errors


def healthcheck_errors(compose: dict[str, Any]) -> list[str]:
    """Every service waited on with service_healthy must have an enabled healthcheck."""
    services = compose.get("services") or {}
    errors = []
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            if condition != "service_healthy" or target not in services:
                continue
            check = services[target].get("healthcheck")
            if not check or check.get("disable") or check.get("test") in (None, ["NONE"]):
                errors.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
    return errors


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def xclab_context(words: list[str]) -> Any:
    """Resolve `xclab ...` against the real CLI and parse its options, without running it.

    Returns the command's click context (`.command.name`, `.params`); raises ClickException for an unknown
    command or option, a missing subcommand, or a value of the wrong type.
    """
    if not words or words[0] != "xclab":
        raise typer.BadParameter(f"not an xclab command: {words}")
    command = get_command(app)
    ctx = command.context_class(command, info_name="xclab")
    args = words[1:]
    while isinstance(command, TyperGroup):
        if not args:
            raise typer.BadParameter(f"{shlex.join(words)}: missing subcommand")
        name, *args = args
        sub = command.get_command(ctx, name)
        if sub is None:
            raise typer.BadParameter(f"{shlex.join(words)}: no such command {name!r}")
        if isinstance(sub, TyperGroup):
            ctx = sub.context_class(sub, info_name=name, parent=ctx)
        command = sub
    return command.make_context(command.name, list(args), parent=ctx)


def xclab_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the project's own image (they have a build section)."""
    return {name: svc for name, svc in (compose.get("services") or {}).items() if "build" in svc}


def worker_queues(compose: dict[str, Any]) -> dict[str, set[str]]:
    queues = {}
    for name, service in xclab_services(compose).items():
        ctx = xclab_context(argv(service["command"]))
        if ctx.command.name == "worker":
            queues[name] = set(ctx.params["queues"].split(","))
    return queues


def dockerfile_stages() -> set[str]:
    return {m.lower() for m in re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", DOCKERFILE.read_text(), re.M | re.I)}


# (a) schema ---------------------------------------------------------------------------------------------------


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        env=OFFLINE_ENV,
        timeout=120,
    )


def test_compose_spec_schema_is_vendored() -> None:
    """check-jsonschema ships the compose-spec schema, so validation needs no network."""
    schema = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    assert schema.is_file()
    assert "services" in json.loads(schema.read_text())["properties"]


@pytest.mark.parametrize("path", [BASE, GPU], ids=lambda p: p.name)
def test_schema(path: Path) -> None:
    result = check_jsonschema(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    bad = merge(load(BASE), {"services": {"api": {"depends_on": {"migrate": {"condition": "service_done"}}}}})
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(bad))
    result = check_jsonschema(path)
    assert result.returncode != 0
    assert "service_done" in result.stdout + result.stderr


# (b) depends_on ------------------------------------------------------------------------------------------------


def test_depends_on_targets_and_conditions(compose: dict[str, Any]) -> None:
    assert reference_errors(compose) == []


def test_reference_check_catches_missing_service() -> None:
    compose = load(BASE)
    assert reference_errors(compose) == []
    compose["services"]["worker"]["depends_on"]["scheduler"] = {"condition": "service_started"}
    compose["services"]["dashboard"]["depends_on"] = ["api", "flower"]
    errors = reference_errors(compose)
    assert "worker depends on undefined service 'scheduler'" in errors
    assert "dashboard depends on undefined service 'flower'" in errors


def test_reference_check_catches_bad_condition_and_cycle() -> None:
    compose = load(BASE)
    compose["services"]["api"]["depends_on"]["redis"]["condition"] = "service_ready"
    compose["services"]["migrate"]["depends_on"]["api"] = {"condition": "service_started"}
    errors = reference_errors(compose)
    assert "api -> redis: unknown condition 'service_ready'" in errors
    assert any(e.startswith("depends_on cycle:") for e in errors)


def test_startup_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    assert depends_on(services["api"])["migrate"] == "service_completed_successfully"
    assert depends_on(services["api"])["redis"] == "service_healthy"
    for name in ("worker", "dashboard"):
        assert depends_on(services[name])["api"] == "service_healthy"
    for job in ("migrate", "worker-token", "user-token"):
        assert services[job].get("restart", "no") == "no", job
    for job in ("worker-token", "user-token"):  # tokens live in tables the migration makes
        assert depends_on(services[job]) == {"migrate": "service_completed_successfully"}
    for name in worker_queues(compose):  # a worker starts once its token file is there
        assert depends_on(services[name])["worker-token"] == "service_completed_successfully", name


# (c) builds ----------------------------------------------------------------------------------------------------


def test_build_contexts_and_dockerfiles(compose: dict[str, Any]) -> None:
    stages = dockerfile_stages()
    builds = xclab_services(compose)
    assert {"migrate", "api", "worker", "dashboard"} <= set(builds)
    for name, service in builds.items():
        build = service["build"]
        build = {"context": build} if isinstance(build, str) else build
        context = (BASE.parent / build.get("context", ".")).resolve()
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        if "target" in build:
            assert build["target"] in stages, f"{name}: no stage {build['target']!r} in {dockerfile}"


def test_dockerfile_conventions() -> None:
    text = DOCKERFILE.read_text()
    assert {"api", "worker", "dashboard"} <= dockerfile_stages()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^\s*XCL_HOME=/data\b|^ENV XCL_HOME=/data\b", text, re.M)
    for stage in re.split(r"^FROM ", text, flags=re.M)[1:]:
        if re.match(r"\S+\s+AS\s+(api|worker|dashboard)\b", stage):
            users = re.findall(r"^USER\s+(\S+)", stage, re.M)
            assert users and users[-1] not in {"root", "0"}, f"stage runs as root: {stage.splitlines()[0]}"
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for entry in (".venv", ".xclab", ".git", "test-artifacts", "**/__pycache__", ".pytest_cache", ".env"):
        assert entry in ignored, f".dockerignore lacks {entry}"


# (d) healthchecks ----------------------------------------------------------------------------------------------


def test_healthy_dependencies_have_healthchecks(compose: dict[str, Any]) -> None:
    assert healthcheck_errors(compose) == []


def test_healthcheck_check_can_fail() -> None:
    compose = load(BASE)
    del compose["services"]["api"]["healthcheck"]
    assert healthcheck_errors(compose) == [
        "worker waits for api to be healthy, but api has no healthcheck",
        "dashboard waits for api to be healthy, but api has no healthcheck",
    ]


def test_service_healthchecks() -> None:
    services = load(BASE)["services"]
    assert "pg_isready" in " ".join(argv(services["postgres"]["healthcheck"]["test"]))
    assert argv(services["redis"]["healthcheck"]["test"])[-2:] == ["redis-cli", "ping"]
    api_check = " ".join(argv(services["api"]["healthcheck"]["test"]))
    assert "urllib" in api_check and "http://localhost:8000/api/v1/health" in api_check
    assert "curl" not in api_check  # python:3.11-slim has no curl


# (e) commands --------------------------------------------------------------------------------------------------


def test_commands_are_xclab_commands(compose: dict[str, Any]) -> None:
    for name, service in xclab_services(compose).items():
        assert "command" in service, f"{name} relies on the image's CMD"
        words = argv(service["command"])
        try:
            xclab_context(words)
        except ClickException as exc:
            pytest.fail(f"{name}: {shlex.join(words)}: {exc.format_message()}")


def test_expected_commands() -> None:
    services = load(BASE)["services"]
    expected = {
        "migrate": ("upgrade", {}),
        "worker-token": ("ensure", {"role": "worker", "file": Path("/data/tokens/worker")}),
        "user-token": ("ensure", {"role": "user", "file": Path("/data/tokens/user")}),
        "api": ("serve", {"host": "0.0.0.0", "port": 8000}),
        "worker": ("worker", {"queues": "cpu,gpu", "concurrency": 1}),
        "dashboard": ("dashboard", {"port": 8501}),
    }
    for name, (command, params) in expected.items():
        ctx = xclab_context(argv(services[name]["command"]))
        assert ctx.command.name == command
        assert params.items() <= ctx.params.items(), (name, ctx.params)


def test_dockerfile_cmds_are_xclab_commands() -> None:
    cmds = re.findall(r"^CMD\s+(\[.*\])\s*$", DOCKERFILE.read_text(), re.M)
    assert len(cmds) == 3
    for cmd in cmds:
        xclab_context(json.loads(cmd))


@pytest.mark.parametrize(
    "words",
    [
        ["xclab", "sevre"],
        ["xclab", "serve", "--bogus"],
        ["xclab", "db"],
        ["xclab", "worker", "--concurrency", "x"],
    ],
    ids=shlex.join,
)
def test_command_check_can_fail(words: list[str]) -> None:
    with pytest.raises(ClickException):
        xclab_context(words)


def test_every_queue_is_consumed(compose: dict[str, Any]) -> None:
    from xclab.settings import Settings

    consumed = set().union(*worker_queues(compose).values())
    assert {"cpu", "gpu", Settings().default_queue} <= consumed


# shared settings ---------------------------------------------------------------------------------------------


SERVER_ENV = {
    "XCL_DATABASE_URL": "postgresql+psycopg://xclab:xclab@postgres:5432/xclab",
    "XCL_BROKER_URL": "redis://redis:6379/0",
    "XCL_ARTIFACT_ROOT": "/data/artifacts",
    "XCL_API_URL": "http://api:8000",
}
SECRETS = {"XCL_API_TOKEN", "XCL_DATABASE_URL"}  # what least privilege keeps from services that need none


def test_shared_environment_and_artifacts() -> None:
    compose = load(BASE)
    services = compose["services"]
    env = services["api"]["environment"]
    assert {k: v for k, v in env.items() if k != "XCL_API_TOKEN"} == SERVER_ENV
    assert re.fullmatch(r"\$\{XCL_API_TOKEN:-\S+\}", env["XCL_API_TOKEN"])
    for name in ("migrate", "worker-token", "user-token"):  # the database, never the admin token
        assert services[name]["environment"] == SERVER_ENV, name
    assert services["worker"]["environment"] == {
        "XCL_BROKER_URL": SERVER_ENV["XCL_BROKER_URL"],
        "XCL_API_URL": SERVER_ENV["XCL_API_URL"],
        "XCL_API_TOKEN_FILE": "/data/tokens/worker",
    }
    assert services["dashboard"]["environment"] == {"XCL_API_URL": SERVER_ENV["XCL_API_URL"]}
    assert services["api"]["volumes"] == [f"artifacts:{env['XCL_ARTIFACT_ROOT']}"]
    assert services["worker-token"]["volumes"] == ["worker-tokens:/data/tokens"]
    assert services["user-token"]["volumes"] == ["user-tokens:/data/tokens"]
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source!r}"


def privilege_errors(compose: dict[str, Any]) -> list[str]:
    """Least privilege: only the API holds the admin token and only it and its one-shot jobs reach the database;
    only the API mounts the artifact store (workers go through the API); workers read a worker token from the
    worker-tokens volume, read-only, and never mount the user-tokens volume; the dashboard holds no token at all."""
    errors = []
    server_side = {"api", "migrate", "worker-token", "user-token"}
    for name, service in (compose.get("services") or {}).items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
        mounts = [str(v).split(":") for v in service.get("volumes", [])]
        if "XCL_API_TOKEN" in env and name != "api":
            errors.append(f"{name} gets the admin token")
        if "XCL_DATABASE_URL" in env and name not in server_side:
            errors.append(f"{name} reaches the database")
        if any(m[0] == "artifacts" for m in mounts) and name != "api":
            errors.append(f"{name} mounts the artifact store")
        token_mounts = [m for m in mounts if m[0] == "worker-tokens"]
        if any(m[0] == "user-tokens" for m in mounts) and name != "user-token":
            errors.append(f"{name} mounts the user tokens")
        if name in worker_queues(compose):
            if env.get("XCL_API_TOKEN_FILE") != "/data/tokens/worker":
                errors.append(f"{name} does not read the worker token file")
            if not token_mounts or any(m[-1] != "ro" for m in token_mounts):
                errors.append(f"{name} does not mount the worker tokens read-only")
        elif token_mounts and name != "worker-token":
            errors.append(f"{name} mounts the worker tokens")
        if name == "dashboard" and {"XCL_API_TOKEN", "XCL_API_TOKEN_FILE"} & set(env):
            errors.append("the dashboard holds a token")
    return errors


def test_only_the_api_holds_the_admin_token(compose: dict[str, Any]) -> None:
    assert privilege_errors(compose) == []


def test_privilege_check_can_fail() -> None:
    compose = load(BASE)
    services = compose["services"]
    services["worker"]["environment"] = {**services["api"]["environment"]}
    services["worker"]["volumes"] = [
        "artifacts:/data/artifacts",
        "worker-tokens:/data/tokens",
        "user-tokens:/data/user:ro",
    ]
    services["dashboard"]["environment"]["XCL_API_TOKEN_FILE"] = "/data/tokens/user"
    services["dashboard"]["volumes"] = ["worker-tokens:/data/tokens:ro"]
    assert privilege_errors(compose) == [
        "worker gets the admin token",
        "worker reaches the database",
        "worker mounts the artifact store",
        "worker mounts the user tokens",
        "worker does not read the worker token file",
        "worker does not mount the worker tokens read-only",
        "dashboard mounts the worker tokens",
        "the dashboard holds a token",
    ]


# (f) GPU -------------------------------------------------------------------------------------------------------


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    devices = (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get(
        "devices"
    )
    return [d for d in devices or [] if "gpu" in d.get("capabilities", [])]


def test_gpu_override_reserves_a_gpu_for_the_worker() -> None:
    worker = load(GPU)["services"]["worker"]
    devices = gpu_devices(worker)
    assert devices, "the GPU override's worker reserves no device with capabilities [gpu]"
    for device in devices:
        assert device.get("driver") == "nvidia"
        assert device.get("count") in (1, "all") or device.get("device_ids")
    merged = merge(load(BASE), load(GPU))
    assert worker_queues(merged)["worker"] == {"gpu"}
    assert not gpu_devices(load(BASE)["services"]["worker"]), "the base file must run on CPU-only hosts"


def test_gpu_override_cpu_worker_matches_base_worker() -> None:
    """worker-cpu is the base worker spelled out again (no `extends`): keep everything but the command equal."""
    base_worker = load(BASE)["services"]["worker"]
    cpu_worker = load(GPU)["services"]["worker-cpu"]
    assert not gpu_devices(cpu_worker)
    assert {k: v for k, v in cpu_worker.items() if k != "command"} == {
        k: v for k, v in base_worker.items() if k != "command"
    }
    assert worker_queues(merge(load(BASE), load(GPU)))["worker-cpu"] == {"cpu"}


# (g) pins ------------------------------------------------------------------------------------------------------


def test_torch_pins_match_pyproject() -> None:
    worker_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "worker"
    ]
    pins = dict(
        m.groups() for r in worker_extra if (m := re.fullmatch(r"(torch|torchvision)==(\S+)", r.strip()))
    )
    assert set(pins) == {"torch", "torchvision"}, f"pyproject's worker extra should pin both: {worker_extra}"
    text = DOCKERFILE.read_text()
    for package, version in pins.items():
        found = set(re.findall(rf"(?<![\w.-]){package}==([^\s\"'\\]+)", text))
        assert found == {version}, f"Dockerfile pins {package} to {found}, pyproject to {version}"


# Compose CLI, when one is installed ------------------------------------------------------------------------------


def compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.parametrize("files", [[BASE], [BASE, GPU]], ids=["base", "base+gpu"])
def test_compose_config(files: list[Path]) -> None:
    """`docker compose config` resolves, merges and checks references without a Docker engine."""
    cli = compose_cli()
    if cli is None:
        pytest.skip("no Compose CLI installed (docker compose or docker-compose)")
    args = [arg for f in files for arg in ("-f", str(f))]
    result = subprocess.run(
        [*cli, *args, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
