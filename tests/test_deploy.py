"""deploy/: the compose stack, the Dockerfile and the Kubernetes manifests, checked as far as a
machine without Docker or Kubernetes allows: every file parses, references resolve (services,
volumes, ConfigMaps, Secrets, selectors, mounted paths), every FLEETWATCH_* variable is a real
Settings field and the values validate, every fleetwatch command line parses with the real CLI
parser, and ports agree with the Settings defaults.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import provisioning
from fleetwatch.cli import build_parser
from fleetwatch.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DEFAULTS = Settings.model_fields
# The roles fleetwatch's deployment runs as separate processes.
REQUIRED_COMMANDS = {"migrate", "receive", "ingest", "detect"}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default}, resolved to the default (what a bare `up` would use)."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def setting_name(variable: str) -> str:
    assert variable.startswith("FLEETWATCH_"), variable
    return variable.removeprefix("FLEETWATCH_").lower()


def fleetwatch_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in SERVICES.items() if s.get("image") == "fleetwatch:local"}


def settings_from(environment: dict[str, str]) -> Settings:
    values = {
        setting_name(k): interpolate(str(v)) for k, v in environment.items() if k.startswith("FLEETWATCH_")
    }
    return Settings(**values)  # type: ignore[arg-type]


def parse_command(argv: list[str]) -> Any:
    return build_parser().parse_args(argv)


def k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def k8s(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, (kind, name)
    return matches[0]


def workloads() -> list[dict[str, Any]]:
    return [d for d in k8s_documents() if d["kind"] in ("Deployment", "Job")]


def containers() -> list[dict[str, Any]]:
    return [c for w in workloads() for c in w["spec"]["template"]["spec"]["containers"]]


# --- compose ---------------------------------------------------------------------------------


def test_compose_has_the_production_services() -> None:
    assert {"kafka", "clickhouse", "grafana", "migrate", "receiver", "loader", "detectors"} <= set(SERVICES)
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert SERVICES["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana:")
    for name, service in fleetwatch_services().items():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_compose_references_resolve() -> None:
    named_volumes = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES and dependency != name, (name, dependency)
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in named_volumes, (name, source)


def test_compose_starts_nothing_before_migrations() -> None:
    for name, service in fleetwatch_services().items():
        if name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"


def test_compose_commands_exist_in_the_cli() -> None:
    used = set()
    for name, service in fleetwatch_services().items():
        args = parse_command(service["command"])
        used.add(service["command"][0])
        assert callable(args.handler), name
    assert used >= REQUIRED_COMMANDS


def test_compose_environment_is_real_valid_settings() -> None:
    for name, service in fleetwatch_services().items():
        environment = service["environment"]
        for variable in environment:
            assert setting_name(variable) in DEFAULTS, f"{name}: {variable} is not a Settings field"
        settings = settings_from(environment)
        assert settings.kafka_bootstrap == "kafka:9092" and not settings.embedded
        assert settings.clickhouse_url.startswith("http://clickhouse:")


def test_compose_ports_match_settings_defaults() -> None:
    receiver = SERVICES["receiver"]
    published = {int(port.split(":")[-1]) for port in receiver["ports"]}
    assert published == {DEFAULTS["grpc_port"].default, DEFAULTS["http_port"].default}
    settings = settings_from(receiver["environment"])
    assert (settings.grpc_port, settings.http_port, settings.http_host) == (4317, 4318, "0.0.0.0")
    assert f":{DEFAULTS['admin_port'].default}/healthz" in " ".join(receiver["healthcheck"]["test"])


def test_compose_kafka_is_kraft_and_matches_the_bootstrap() -> None:
    env = SERVICES["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])  # base64 of a UUID


def test_compose_grafana_gets_the_plugin_and_every_provisioning_variable() -> None:
    grafana = SERVICES["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]
    text = yaml.safe_dump(provisioning.datasource_file())
    needed = set(re.findall(r"\$\{(\w+)\}", text))
    assert needed and needed <= set(grafana["environment"])
    targets = {mount.split(":")[1] for mount in grafana["volumes"]}
    assert provisioning.DASHBOARDS_PATH in targets
    assert {"/etc/grafana/provisioning/datasources", "/etc/grafana/provisioning/dashboards"} <= targets


def test_compose_grafana_and_clickhouse_agree_on_the_readonly_user() -> None:
    grafana, clickhouse = SERVICES["grafana"]["environment"], SERVICES["clickhouse"]["environment"]
    assert grafana["CLICKHOUSE_PASSWORD"] == clickhouse["GRAFANA_CLICKHOUSE_PASSWORD"]
    users = (DEPLOY / "clickhouse" / "grafana-user.xml").read_text()
    assert f"<{grafana['CLICKHOUSE_USER']}>" in users and "<readonly>1</readonly>" in users
    assert f"ON {grafana['CLICKHOUSE_DATABASE']}.*" in users


# --- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_copies_real_paths_and_runs_fleetwatch() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    for line in instructions:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in shlex.split(line)[1:-1]:
                if "*" not in source:
                    assert (ROOT / source).exists(), source
    assert 'ENTRYPOINT ["fleetwatch"]' in instructions
    exposed = {int(p) for line in instructions if line.startswith("EXPOSE") for p in line.split()[1:]}
    assert exposed == {DEFAULTS[f].default for f in ("grpc_port", "http_port", "admin_port")}
    assert any(line.startswith("USER ") and "root" not in line for line in instructions)


# --- Kubernetes ------------------------------------------------------------------------------


def test_k8s_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_k8s_documents_have_required_fields() -> None:
    for doc in k8s_documents():
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], doc
    for workload in workloads():
        template = workload["spec"]["template"]
        assert template["spec"]["containers"], workload["metadata"]["name"]
        if workload["kind"] == "Deployment":
            selector = workload["spec"]["selector"]["matchLabels"]
            assert selector.items() <= template["metadata"]["labels"].items()


def test_k8s_roles_and_replicas() -> None:
    receiver = k8s("Deployment", "fleetwatch-receiver")
    loader = k8s("Deployment", "fleetwatch-loader")
    detectors = k8s("Deployment", "fleetwatch-detectors")
    assert receiver["spec"]["replicas"] >= 2
    assert detectors["spec"]["replicas"] == 1 and detectors["spec"]["strategy"]["type"] == "Recreate"
    partitions = int(k8s("ConfigMap", "fleetwatch-config")["data"]["FLEETWATCH_KAFKA_TOPIC_PARTITIONS"])
    assert 1 < loader["spec"]["replicas"] <= partitions  # more consumers than partitions idle
    assert k8s("Job", "fleetwatch-migrate")["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "migrate"
    ]


def test_k8s_commands_exist_in_the_cli() -> None:
    used = set()
    for container in containers():
        parse_command(container["args"])
        used.add(container["args"][0])
    assert used == REQUIRED_COMMANDS


def test_k8s_settings_are_real_and_valid() -> None:
    config = k8s("ConfigMap", "fleetwatch-config")["data"]
    secret = k8s("Secret", "fleetwatch-secrets")["stringData"]
    for variable in [*config, *secret]:
        assert setting_name(variable) in DEFAULTS, variable
    settings = settings_from({**config, **secret})
    assert settings.http_host == "0.0.0.0" and settings.kafka_bootstrap
    for field in ("clickhouse_password", "auth_tokens", "grafana_token"):
        assert f"FLEETWATCH_{field.upper()}" in secret, "secrets belong in the Secret"
        assert f"FLEETWATCH_{field.upper()}" not in config


def test_k8s_env_sources_exist() -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in k8s_documents()}
    for container in containers():
        for source in container["envFrom"]:
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            ref = source.get("configMapRef") or source["secretRef"]
            assert (kind, ref["name"]) in names


def test_k8s_probes_hit_the_admin_port_healthz() -> None:
    admin = f"127.0.0.1:{DEFAULTS['admin_port'].default}/healthz"
    for name in ("fleetwatch-receiver", "fleetwatch-loader", "fleetwatch-detectors"):
        container = k8s("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert admin in " ".join(container[probe]["exec"]["command"]), (name, probe)


def test_k8s_service_routes_to_the_receiver_ports() -> None:
    service = k8s("Service", "fleetwatch-receiver")
    receiver = k8s("Deployment", "fleetwatch-receiver")["spec"]["template"]
    assert service["spec"]["selector"].items() <= receiver["metadata"]["labels"].items()
    container_ports = {p["name"]: p["containerPort"] for p in receiver["spec"]["containers"][0]["ports"]}
    assert container_ports == {
        "otlp-grpc": DEFAULTS["grpc_port"].default,
        "otlp-http": DEFAULTS["http_port"].default,
    }
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(container_ports)


@pytest.mark.parametrize("name", ["compose.yaml", "k8s/config.yaml"])
def test_no_fleetwatch_variable_is_misspelt_anywhere(name: str) -> None:
    text = (DEPLOY / name).read_text()
    for variable in set(re.findall(r"\bFLEETWATCH_[A-Z_]+\b", text)):
        assert setting_name(variable) in DEFAULTS, variable
