"""Run configs: a YAML file over built-in defaults, dotted overrides, pydantic validation.

Every failure is a ProctorError with one line that names the file, key or value.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from proctor.harness import benchmarks
from proctor.harness.benchmarks.base import check_params, endpoint_types, judged_by
from proctor.harness.shaping import check_headers
from proctor.harness.taskfile import Judge, JudgeParams, Params
from proctor.launcher import names, safeyaml
from proctor.launcher.errors import ProctorError
from proctor.launcher.images import HARNESS_LATEST

ENV_NAME = names.ENV_NAME
DEFAULT_IMAGE = HARNESS_LATEST
# Query parameters that carry credentials: refused in a url, which is written to
# invocation.yaml, task.yaml and logs.
CREDENTIAL_PARAMS = {"key", "api-key", "api_key", "apikey", "token", "access_token", "auth", "sig"}
# Hostnames as DNS and the URL standard allow them (IPv6 literals are checked apart).
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?")
# Where a ValidationError's input is never echoed: it may be a pasted secret.
_SECRET_KEYS = {"api_key_name", "env_vars", "url", "tracking_uri"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), defer_build=True)


def _env_name(value: str, what: str) -> str:
    problem = names.env_name_problem(value)
    if problem:
        raise ValueError(
            f"{what} must be the NAME of an environment variable: it {problem}; "
            "put the value in .env or the environment, never in the config"
        )
    return value


# A Docker image reference: [registry/]name[:tag][@digest]. Never an option ("-..."),
# never a space or newline: it is one word of a docker command line.
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")


def _image(v: str) -> str:
    if not _IMAGE.fullmatch(v):
        raise ValueError(
            f"not a Docker image reference: {v[:80]!r} (e.g. proctor-harness:latest or "
            "registry.example.com/team/image:1.2)"
        )
    return v


def _check_url(v: str) -> str:
    """An http(s) URL with a host, a numeric port and no credentials (see CREDENTIAL_PARAMS)."""
    example = "e.g. http://127.0.0.1:8000/v1"
    if any(c.isspace() or not c.isprintable() for c in v):
        raise ValueError(f"a URL holds no spaces or control characters ({example})")
    parts = urlsplit(v)
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"url holds credentials before '@' ({names.redact(parts.netloc)}): pass the key "
            "by name with api_key_name, never in the url"
        )
    for param, _ in parse_qsl(parts.query, keep_blank_values=True):
        if param.lower() in CREDENTIAL_PARAMS:
            raise ValueError(
                f"url has a credential parameter {param!r}: pass the key by name with "
                "api_key_name, never in the url"
            )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {v[:80]!r} ({example})")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError(f"url port is not a number from 0 to 65535: {v[:80]!r}") from None
    host = parts.hostname
    if ":" not in host and not _HOSTNAME.fullmatch(host):
        raise ValueError(f"url host {host[:60]!r} is not a valid host name ({example})")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"url host {host[:60]!r} is not a valid IPv6 address") from None
    return v


class ApiEndpoint(_Strict):
    url: str | None = None  # optional only when a deployment provides the endpoint
    model_id: str
    type: Literal["chat", "completions"] = "chat"
    api_key_name: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # header -> variable NAME

    _check_headers = field_validator("headers")(classmethod(lambda cls, v: check_headers(v)))

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _check_url(v)

    @field_validator("api_key_name")
    @classmethod
    def _key_name(cls, v: str | None) -> str | None:
        return None if v is None else _env_name(v, "api_key_name")

    def is_loopback(self) -> bool:
        host = urlsplit(self.url or "").hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


class JudgeEndpoint(ApiEndpoint):
    """The model that grades judged benchmarks: an endpoint like the target's.

    It runs somewhere already (proctor starts no server for it); its key travels by name
    like the target's. ``params`` are its generation settings (JudgeParams).
    """

    url: str  # type: ignore[assignment]  # required: no deployment provides a judge
    params: dict[str, Any] = Field(default_factory=dict)
    deployment: Any = None  # only to refuse it with a clear line (see _no_deployment)

    @field_validator("deployment")
    @classmethod
    def _no_deployment(cls, v: Any) -> None:
        if v is not None:
            raise ValueError(
                "a judge deployment is not supported: start the judge's server yourself "
                "and give its url here"
            )
        return None

    def spec(self) -> Judge:
        """The judge as the harness's task.yaml holds it (params validated)."""
        return Judge(
            url=self.url,
            model_id=self.model_id,
            type=self.type,
            api_key_name=self.api_key_name,
            params=JudgeParams.model_validate(self.params),
        )


class Target(_Strict):
    api_endpoint: ApiEndpoint


class NoDeployment(_Strict):
    """The endpoint already runs somewhere (target.api_endpoint.url says where)."""

    type: Literal["none"] = "none"


class DockerDeployment(_Strict):
    """A model server container that proctor starts, health-checks and stops."""

    type: Literal["docker"]
    image: str = "proctor-llamacpp:latest"
    command: str | None = None  # default: the image's own CMD
    port: int = Field(default=8000, ge=1, le=65535)  # published on the host's 127.0.0.1
    # Default: the port the image EXPOSEs when it exposes exactly one, else `port`
    # (deploy.sh asks Docker when it starts the server).
    container_port: int | None = Field(default=None, ge=1, le=65535)
    health_path: str = "/v1/models"
    # Within what deploy.sh's bash arithmetic and sleep handle: a day at most.
    startup_timeout: float = Field(default=300, gt=0, le=86400, allow_inf_nan=False)
    env_vars: dict[str, str] = Field(default_factory=dict)
    mounts: list[str] = Field(default_factory=list)  # "host:container[:ro]"
    extra_docker_args: list[str] = Field(default_factory=list)

    _check_env = field_validator("env_vars")(classmethod(lambda cls, v: _env_vars(v)))

    @field_validator("image")
    @classmethod
    def _image_ref(cls, v: str | None) -> str | None:
        return None if v is None else _image(v)

    @field_validator("health_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"must start with '/' (got {v!r}), e.g. /v1/models")
        return v

    @field_validator("mounts")
    @classmethod
    def _mounts(cls, v: list[str]) -> list[str]:
        for mount in v:
            parts = mount.split(":")
            if (
                len(parts) not in (2, 3)
                or not all(parts[:2])
                or parts[2:] not in ([], ["ro"], ["rw"])
            ):
                raise ValueError(f"mount {mount!r} must be HOST_PATH:CONTAINER_PATH[:ro]")
        return v

    def endpoint_url(self, endpoint_type: str) -> str:
        path = "/v1/chat/completions" if endpoint_type == "chat" else "/v1/completions"
        return f"http://127.0.0.1:{self.port}{path}"


def _env_vars(v: dict[str, str]) -> dict[str, str]:
    for inner, outer in v.items():
        _env_name(inner, "an env_vars key")
        _env_name(str(outer), f"env_vars.{inner}")
    return v


class TaskConfig(_Strict):
    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    env_vars: dict[str, str] = Field(default_factory=dict)
    container: str | None = None
    command: str | None = None
    dataset_dir: str | None = None
    judge: JudgeEndpoint | None = None  # default: evaluation.judge

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        problem = names.task_name_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _container_needs_command(self) -> TaskConfig:
        if self.container is not None and self.dataset_dir is not None and self.command is None:
            raise ValueError(
                f"task {self.name!r} has a container and a dataset_dir but no command: "
                "say what the container runs (command: ...)"
            )
        return self

    _check_env = field_validator("env_vars")(classmethod(lambda cls, v: _env_vars(v)))

    @field_validator("container")
    @classmethod
    def _image_ref(cls, v: str | None) -> str | None:
        return None if v is None else _image(v)

    @field_validator("dataset_dir")
    @classmethod
    def _mountable(cls, v: str | None) -> str | None:
        if v is not None and (":" in v or "," in v or not v.isprintable()):
            raise ValueError(
                f"dataset_dir {v[:80]!r} cannot be mounted by docker -v (no ':', ',' or "
                "control characters): rename or link the folder"
            )
        return v


class Evaluation(_Strict):
    params: dict[str, Any] = Field(default_factory=dict)
    env_vars: dict[str, str] = Field(default_factory=dict)
    judge: JudgeEndpoint | None = None  # grades judged benchmarks (mtbench, arena_hard, ...)
    tasks: list[TaskConfig] = Field(min_length=1)

    @field_validator("tasks")
    @classmethod
    def _folders(cls, v: list[TaskConfig]) -> list[TaskConfig]:
        clash = names.folder_clash([t.name for t in v])
        if clash:
            raise ValueError(clash)
        return v

    _check_env = field_validator("env_vars")(classmethod(lambda cls, v: _env_vars(v)))


# Keys only one executor reads: setting one for the other is a one-line error.
LOCAL_KEYS = ("mode", "max_parallel", "network", "extra_docker_args", "auto_export")
SLURM_KEYS = (
    "partition",
    "account",
    "qos",
    "time_limit",
    "cpus_per_task",
    "mem",
    "gpus_per_task",
    "sbatch_args",
    "container_runtime",
    "max_resubmits",
)
# Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_SLURM_TIME = re.compile(r"^(\d+-\d{1,2}(:\d{1,2}){0,2}|\d+(:\d{1,2}){0,2})$")
_SLURM_MEM = re.compile(r"^\d+[KMGT]?$")
_SLURM_NAME = re.compile(r"^[A-Za-z0-9_.,-]+$")
# sbatch options proctor sets itself (or that have their own key): refused in sbatch_args.
SBATCH_OWN = {
    "--partition": "partition",
    "-p": "partition",
    "--account": "account",
    "-A": "account",
    "--qos": "qos",
    "-q": "qos",
    "--time": "time_limit",
    "-t": "time_limit",
    "--cpus-per-task": "cpus_per_task",
    "-c": "cpus_per_task",
    "--mem": "mem",
    "--mem-per-cpu": "mem",
    "--mem-per-gpu": "mem",
    "--gpus-per-task": "gpus_per_task",
    "--gpus": "gpus_per_task",
    "-G": "gpus_per_task",
    "--gres": "gpus_per_task",
}
SBATCH_PROCTOR = (
    "--job-name", "-J", "--output", "-o", "--error", "-e", "--chdir", "-D", "--export",
    "--export-file", "--signal", "--dependency", "-d", "--parsable", "--hold", "-H", "--wrap",
    "--array", "-a", "--requeue", "--no-requeue", "--open-mode", "--ntasks", "-n", "--nodes",
    "-N", "--wait", "-W", "--kill-on-invalid-dep",
)  # fmt: skip


class Execution(_Strict):
    """Where the jobs run: ``local`` (Docker on this host) or ``slurm`` (one job per task).

    Local and Slurm keys share the model so every reader has one type; a key of the other
    executor is refused by ``_keys_match_type`` with a one-line error.
    """

    type: Literal["local", "slurm"] = "local"
    output_dir: str = "outputs"
    mode: Literal["parallel", "sequential"] = "parallel"
    max_parallel: int = Field(default=4, ge=1, le=256)
    network: Literal["auto", "host", "bridge"] = "auto"
    extra_docker_args: list[str] = Field(default_factory=list)
    image: str = DEFAULT_IMAGE
    auto_export: list[Literal["mlflow"]] = Field(default_factory=list)  # when run_all.sh ends
    # -- slurm --
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_limit: str | None = None  # per job, in Slurm's formats (e.g. 60, 4:00:00, 1-00)
    cpus_per_task: int = Field(default=1, ge=1, le=1024)
    mem: str | None = None  # per node, e.g. 8G
    gpus_per_task: int = Field(default=0, ge=0, le=64)
    sbatch_args: list[str] = Field(default_factory=list)
    container_runtime: Literal["docker", "podman", "none"] = "docker"
    max_resubmits: int = Field(default=3, ge=0, le=100)

    @field_validator("partition", "account", "qos")
    @classmethod
    def _slurm_name(cls, v: str | None) -> str | None:
        if v is not None and not _SLURM_NAME.match(v):
            raise ValueError("must be a Slurm name (letters, digits, '_', '.', ',', '-')")
        return v

    @field_validator("time_limit", mode="before")
    @classmethod
    def _time(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)  # YAML reads `time_limit: 60` as a number of minutes
        if v is not None and (not isinstance(v, str) or not _SLURM_TIME.match(v)):
            raise ValueError("must be a Slurm time: minutes, HH:MM:SS or D-HH:MM:SS (e.g. 4:00:00)")
        return v

    @field_validator("mem")
    @classmethod
    def _mem(cls, v: str | None) -> str | None:
        if v is not None and not _SLURM_MEM.match(v):
            raise ValueError("must be a size in MB or with a unit K, M, G or T (e.g. 8G)")
        return v

    @field_validator("sbatch_args")
    @classmethod
    def _sbatch_args(cls, v: list[str]) -> list[str]:
        for arg in v:
            option = arg.split("=", 1)[0]
            if not arg.startswith("-") or any(c.isspace() for c in arg):
                raise ValueError(
                    f"{arg!r} is not one sbatch option: write each as --name=value, without spaces"
                )
            if option in SBATCH_OWN:
                raise ValueError(f"{option} has its own key: set execution.{SBATCH_OWN[option]}")
            if option in SBATCH_PROCTOR:
                raise ValueError(f"{option} is set by proctor itself and cannot be overridden")
        return v

    @model_validator(mode="after")
    def _keys_match_type(self) -> Execution:
        other = SLURM_KEYS if self.type == "local" else LOCAL_KEYS
        for key in other:
            if key in self.model_fields_set:
                want = "slurm" if self.type == "local" else "local"
                raise ValueError(
                    f"{key} applies to execution.type {want}, not {self.type}: "
                    f"remove it or set execution.type: {want}"
                )
        return self

    @field_validator("image")
    @classmethod
    def _image_ref(cls, v: str | None) -> str | None:
        return None if v is None else _image(v)


RUN_NAME_FIELDS = ("invocation", "task", "benchmark", "model")


class MlflowExport(_Strict):
    """Where `inv export --to mlflow` (and execution.auto_export) puts an invocation."""

    tracking_uri: str | None = None  # default: MLFLOW_TRACKING_URI (environment or .env)
    experiment_name: str = Field(default="proctor", min_length=1)
    run_name: str = "{model} {task} {invocation}"  # placeholders: RUN_NAME_FIELDS
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tracking_uri")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        if v is not None and "@" in urlsplit(v).netloc:
            raise ValueError(
                "must not hold credentials (they would be written to invocation.yaml): "
                "name them in .env as MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD "
                "or MLFLOW_TRACKING_TOKEN"
            )
        return v

    @field_validator("run_name")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        try:
            v.format(**dict.fromkeys(RUN_NAME_FIELDS, ""))
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"bad placeholder {e} in {v!r}: use {', '.join('{' + f + '}' for f in RUN_NAME_FIELDS)}"
            ) from None
        return v


class Export(_Strict):
    mlflow: MlflowExport = Field(default_factory=MlflowExport)


class RunConfig(_Strict):
    """A whole run config. Field order is the order of invocation.yaml."""

    target: Target
    deployment: NoDeployment | DockerDeployment = Field(
        default_factory=NoDeployment, discriminator="type"
    )
    evaluation: Evaluation
    execution: Execution = Field(default_factory=Execution)
    export: Export = Field(default_factory=Export)

    @model_validator(mode="after")
    def _endpoint_url(self) -> RunConfig:
        endpoint = self.target.api_endpoint
        if self.execution.type == "slurm" and isinstance(self.deployment, DockerDeployment):
            if "port" in self.deployment.model_fields_set:
                raise ValueError(
                    "deployment.port does not apply to execution.type slurm: each job "
                    "publishes its own server on a port free on its node; remove it"
                )
            if self.execution.container_runtime == "none":
                raise ValueError(
                    "deployment.type docker needs a container runtime, but "
                    "execution.container_runtime is none: set it to docker or podman"
                )
        if self.execution.type == "slurm" and self.execution.container_runtime == "none":
            for task in self.evaluation.tasks:
                if task.container or task.command:
                    raise ValueError(
                        f"evaluation.tasks.{task.name}: a task container or command needs a "
                        "container runtime; execution.container_runtime is none"
                    )
        if isinstance(self.deployment, DockerDeployment):
            if endpoint.url is None:
                endpoint.url = self.deployment.endpoint_url(endpoint.type)
        elif endpoint.url is None:
            raise ValueError(
                "target.api_endpoint.url is required (or set deployment.type: docker "
                "to have proctor start the model server)"
            )
        return self

    def task_params(self, task: TaskConfig) -> Params:
        """evaluation.params overlaid by the task's own params, validated."""
        merged = _deep_merge(self.evaluation.params, task.params)
        return Params.model_validate(merged)

    def task_judge(self, task: TaskConfig) -> JudgeEndpoint | None:
        """The task's own judge, else evaluation.judge (None when neither is set)."""
        return task.judge or self.evaluation.judge

    def config_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


# -- loading -----------------------------------------------------------------------------


def load(path: Path, overrides: list[str] | None = None) -> RunConfig:
    """Read ``path``, apply ``-o key=value`` overrides, validate. Raises ProctorError."""
    raw = read_yaml(path)
    for item in overrides or []:
        apply_override(raw, item)
    return validate(raw, str(path))


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ProctorError(f"config file not found: {path} (pass an existing file to --config)")
    try:
        data = safeyaml.loads(safeyaml.read_text(path))
    except ValueError as e:
        raise ProctorError(f"{path}: {e}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        raise ProctorError(f"{path}: YAML syntax error at {where}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise ProctorError(f"{path}: YAML syntax error: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProctorError(f"{path}: the top level must be a mapping (target:, evaluation:, ...)")
    return data


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``dotted.key=value`` in place; the value is parsed as YAML.

    List items are addressed by index, and evaluation.tasks also by task name.
    """
    key, sep, text = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not key.strip() or any(not p for p in parts):
        raise ProctorError(
            f"malformed override {item!r}: write -o dotted.key=value, "
            "e.g. -o evaluation.params.limit_samples=20"
        )
    try:
        value = safeyaml.loads(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    except ValueError as e:
        raise ProctorError(f"override {key.strip()!r}: {e}") from None
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[:depth]) or "the top level"
        if isinstance(node, list):
            index = _list_index(node, part, parts[:depth], item)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ProctorError(f"override {item!r}: {here} is a value, not a mapping or list")


def _list_index(node: list[Any], part: str, path: list[str], item: str) -> int:
    where = ".".join(path)
    if part.lstrip("-").isdigit():
        index = int(part)
        if not -len(node) <= index < len(node):
            raise ProctorError(
                f"override {item!r}: {where} has {len(node)} items, no index {index}"
            )
        return index
    names = [t.get("name") for t in node if isinstance(t, dict)]
    matches = [i for i, t in enumerate(node) if isinstance(t, dict) and t.get("name") == part]
    if not matches:
        raise ProctorError(
            f"override {item!r}: no item named {part!r} in {where} (have: {', '.join(map(str, names))})"
        )
    if len(matches) > 1:
        raise ProctorError(
            f"override {item!r}: {part!r} appears {len(matches)} times in {where}; "
            f"address it by index ({', '.join(map(str, matches))})"
        )
    return matches[0]


def validate(raw: dict[str, Any], source: str) -> RunConfig:
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ProctorError(f"{source}: {_describe_first(e.errors(), RunConfig)}") from None
    try:
        Params.model_validate(config.evaluation.params)
    except ValidationError as e:
        raise ProctorError(
            f"{source}: {_describe_first(e.errors(), Params, 'evaluation.params')}"
        ) from None
    for i, task in enumerate(config.evaluation.tasks):
        try:
            config.task_params(task)
        except ValidationError as e:
            where = f"evaluation.tasks.{task.name}.params"
            raise ProctorError(f"{source}: {_describe_first(e.errors(), Params, where)}") from None
        if task.command is None and task.container is None:
            try:
                bench = benchmarks.get(task.name)
            except KeyError:
                known = ", ".join(sorted(benchmarks.CATALOG))
                hint = _did_you_mean(task.name, list(benchmarks.CATALOG))
                raise ProctorError(
                    f"{source}: evaluation.tasks[{i}].name: unknown benchmark {task.name!r}{hint} "
                    f"(known: {known}; or give the task a container/command)"
                ) from None
            params = config.task_params(task)
            _check_options(source, task.name, bench, params)
            types, because = endpoint_types(bench, params)
            if config.target.api_endpoint.type not in types:
                raise ProctorError(
                    f"{source}: benchmark {task.name!r} needs a {' or '.join(types)} endpoint"
                    f"{f' ({because})' if because else ''}, "
                    f"but target.api_endpoint.type is {config.target.api_endpoint.type!r}"
                )
            _check_judge(config, task, bench, source)
    return config


def _check_judge(config: RunConfig, task: TaskConfig, bench: Any, source: str) -> None:
    """A judged task needs a judge, and the judge's params must be valid."""
    judge = config.task_judge(task)
    where = f"evaluation.tasks.{task.name}.judge" if task.judge else "evaluation.judge"
    if judge is not None:
        try:
            judge.spec()
        except ValidationError as e:
            raise ProctorError(
                f"{source}: {_describe(e.errors()[0], JudgeParams, where + '.params')}"
            ) from None
    if judged_by(bench, config.task_params(task)) and judge is None:
        raise ProctorError(
            f"{source}: benchmark {task.name!r} is scored by a judge model: set "
            "evaluation.judge (url, model_id, api_key_name) or "
            f"evaluation.tasks.{task.name}.judge"
        )


def _check_options(source: str, name: str, bench: Any, params: Params) -> None:
    """The benchmark's own options (params.extra, OLMES's shot count) and the few-shot count."""
    try:
        check_params(bench, params)
    except ValueError as e:
        message = str(e)
        message = "params." + message if message.startswith("extra.") else message
        raise ProctorError(f"{source}: evaluation.tasks.{name}: {message}") from None
    most = getattr(bench, "fewshot_max", 0)
    shots = params.num_fewshot or 0
    if shots > most and not getattr(bench, "fixed_shots", None):
        has = f"at most {most} examples" if most else "no few-shot examples"
        raise ProctorError(
            f"{source}: evaluation.tasks.{name}.params.num_fewshot is {shots}, but {name} has "
            f"{has}; lower it"
        )


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe_first(errors: list[Any], model: type[BaseModel], prefix: str = "") -> str:
    """One line for the first of pydantic's errors, naming a typo before what it hides.

    ``modle_id:`` gives two errors, 'model_id' missing and 'modle_id' unknown, and pydantic
    lists the missing one first. The unknown key beside a missing one is the cause, so it
    comes first, with its did-you-mean hint, and the missing key after it.
    """
    first = errors[0]
    if first["type"] == "missing":
        parent = _plain_loc(first)[:-1]
        beside = [
            e for e in errors if e["type"] == "extra_forbidden" and _plain_loc(e)[:-1] == parent
        ]
        if beside:
            wanted = _plain_loc(first)[-1]
            names = [_plain_loc(e)[-1] for e in beside]
            close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
            typo = beside[names.index(close[0])] if close else beside[0]
            return f"{_describe(typo, model, prefix)}; {_describe(first, model, prefix)}"
    return _describe(first, model, prefix)


def _plain_loc(err: Any) -> list[str]:
    # A discriminated union puts its tag in the path (deployment.docker.port): drop it.
    return [str(p) for p in err["loc"] if p not in ("none", "docker")]


def _describe(err: Any, model: type[BaseModel], prefix: str = "") -> str:
    """One line for one pydantic error, with the dotted path and a hint for typos."""
    loc = _plain_loc(err)
    path = ".".join([prefix, *loc] if prefix else loc)
    if err["type"] == "extra_forbidden":
        fields = _fields_at(model, loc[:-1])
        return f"unknown key {path!r}{_did_you_mean(loc[-1], fields)}"
    if err["type"] == "missing":
        return f"missing required key {path!r}"
    value = err.get("input")
    secret = bool(_SECRET_KEYS & set(loc)) or (
        isinstance(value, str) and names.looks_like_token(value)
    )
    shown = "" if isinstance(value, dict) or secret else f" (got {repr(value)[:80]})"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{path}: {msg}{shown}" if path else msg


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names of the model reached by following ``loc`` (list indexes skipped)."""
    current: Any = model
    for part in loc:
        if part.isdigit():
            continue
        fields = getattr(current, "model_fields", None) or {}
        if part == "params" and current is JudgeEndpoint:
            current = JudgeParams
        elif part == "params":
            current = Params  # params are plain dicts in the config, validated as Params
        elif part == "deployment":
            current = DockerDeployment  # the richer member: typo hints for docker keys
        elif part in fields:
            current = _model_in(fields[part].annotation)
        else:
            return []
    return list(getattr(current, "model_fields", None) or {})


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
