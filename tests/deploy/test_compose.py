"""docker-compose.yml, checked without Docker: structure, pins, env, health, wiring."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from ingest.provision import provision
from vitalstream.cli import build_parser
from vitalstream.config import load_settings
from vitalstream.config.variables import known_variables

from .deploy_support import (
    ENV_EXAMPLE, ROOT, app_services, command, env_files, environment, healthcheck_text, load_compose,
    long_running, mosquitto_conf, parse_env_file, services,
)

# The secret env files compose reads and what writes them (none is in the repository).
SECRET_ENV_FILES = {"deploy/secrets/database.env", "deploy/mqtt/gateway.env"}


def by_command(name: str) -> dict[str, dict]:
    return {n: s for n, s in app_services().items() if command(s)[:1] == [name]}


def test_every_service_has_an_image_or_a_build():
    for name, service in services().items():
        assert service.get("image") or service.get("build"), name


def test_images_are_pinned():
    for name, service in services().items():
        image = service["image"]
        repo, sep, tag = image.rpartition(":")
        assert sep and repo and tag and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and not tag.startswith("latest"), f"{name}: {image}"
        assert re.search(r"\d", tag), f"{name}: {image} is not a version"


def test_third_party_images_are_the_intended_ones():
    images = {s["image"] for s in services().values()}
    assert any(re.fullmatch(r"eclipse-mosquitto:2\.\d+\.\d+", i) for i in images)
    assert any(re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", i) for i in images)
    assert any(re.fullmatch(r"timescale/timescaledb:2\.\d+\.\d+-pg1[5-7]", i) for i in images)


def test_app_services_use_only_known_variables():
    known = known_variables()
    for name, service in app_services().items():
        unknown = set(environment(service)) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not read by the settings"
        for path, _ in env_files(service):
            assert path == ".env" or path in SECRET_ENV_FILES, f"{name}: unexpected env_file {path}"


def test_the_secret_env_files_carry_only_known_variables(tmp_path: Path):
    # gateway.env is written by `vitalstream devices provision`; database.env by deploy/bootstrap.sh.
    provision(tmp_path, count=1, broker_url="mqtt://mosquitto:1883")
    gateway_env = parse_env_file(tmp_path / "gateway.env")
    assert set(gateway_env) == {"VITALSTREAM_MQTT_URL"}
    assert gateway_env["VITALSTREAM_MQTT_URL"].startswith("mqtt://vitalstream-gateway:")
    assert gateway_env["VITALSTREAM_MQTT_URL"].endswith("@mosquitto:1883")
    bootstrap = (ROOT / "deploy" / "bootstrap.sh").read_text()
    assert set(re.findall(r"(VITALSTREAM_[A-Z_]+)=", bootstrap)) == {"VITALSTREAM_DATABASE_URL"}
    assert "@timescaledb:5432/vitalstream" in bootstrap
    assert "--broker-url mqtt://mosquitto:1883" in bootstrap


def _effective_env(service: dict) -> dict[str, str]:
    """What the container would see: env files in order, then `environment:` (compose's precedence)."""
    env: dict[str, str] = {}
    for path, _ in env_files(service):
        if path == ".env":
            env.update(parse_env_file(ENV_EXAMPLE))
        elif path == "deploy/secrets/database.env":
            env["VITALSTREAM_DATABASE_URL"] = "postgresql://vitalstream:secret@timescaledb:5432/vitalstream"
        elif path == "deploy/mqtt/gateway.env":
            env["VITALSTREAM_MQTT_URL"] = "mqtt://vitalstream-gateway:secret@mosquitto:1883"
    env.update(environment(service))
    return env


def test_each_app_service_gets_valid_complete_settings():
    for name, service in app_services().items():
        settings = load_settings(_effective_env(service))  # raises ConfigError on a bad value
        cmd = command(service)[:1]
        if cmd in (["worker"], ["dispatcher"], ["api"], ["migrate"]):
            assert settings.core.database_url, name
        if cmd in (["gateway"], ["worker"], ["dispatcher"]):
            assert settings.core.kafka_bootstrap == "kafka:9092", name
        if cmd == ["gateway"]:
            assert settings.core.mqtt_url, name
        assert settings.storage.timescaledb == "on", f"{name}: must not fall back to plain PostgreSQL silently"


def test_commands_are_real_vitalstream_subcommands():
    parser = build_parser()
    for name, service in app_services().items():
        cmd = command(service)
        if cmd == ["--help"]:
            continue
        args = parser.parse_args(cmd)  # SystemExit (a failure) on an unknown command or flag
        assert callable(args.func), name
    assert by_command("gateway") and by_command("worker") and by_command("dispatcher")
    assert by_command("api") and by_command("migrate")


def test_the_dispatcher_also_runs_the_alert_engine():
    # `vitalstream dispatcher` runs the engine unless --no-engine; with it, an alert-engine service is needed.
    dispatchers = by_command("dispatcher")
    engine_separate = bool(by_command("alert-engine"))
    for name, service in dispatchers.items():
        assert engine_separate or "--no-engine" not in command(service), name


def test_long_running_services_have_health_checks_and_restart_policies():
    for name, service in long_running().items():
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: no health check"
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck.{key}"
        resources = service.get("deploy", {}).get("resources", {})
        assert resources.get("limits", {}).get("memory"), f"{name}: no memory limit"
    expected = {"mosquitto", "kafka", "timescaledb", "dispatcher", "api"}
    assert expected <= set(long_running())


def test_health_checks_probe_the_right_thing():
    svc = services()
    assert "kafka-broker-api-versions.sh" in healthcheck_text(svc["kafka"])
    assert "pg_isready" in healthcheck_text(svc["timescaledb"])
    mqtt = healthcheck_text(svc["mosquitto"])
    assert "mosquitto_sub" in mqtt and " -u " in mqtt and " -P " in mqtt and "$$SYS/" in mqtt
    assert "-C 1" in mqtt and "-W " in mqtt  # one message or fail, within a timeout
    for name, service in app_services().items():
        if name not in long_running():
            continue
        env, check = environment(service), healthcheck_text(service)
        cmd = command(service)[0]
        if cmd == "gateway":
            assert f"127.0.0.1:{env['VITALSTREAM_GATEWAY_METRICS_PORT']}/metrics" in check, name
            assert "mqtt_subscribed 1" in check, name
        elif cmd == "worker":
            assert f"127.0.0.1:{env['VITALSTREAM_WORKER_METRICS_PORT']}/metrics" in check, name
        elif cmd == "api":
            assert f"127.0.0.1:{env['VITALSTREAM_API_PORT']}/healthz" in check, name
        else:
            assert "python" in check, name


def test_metrics_and_api_listen_beyond_loopback():
    for name, service in app_services().items():
        env = environment(service)
        if command(service)[:1] == ["gateway"]:
            assert int(env["VITALSTREAM_GATEWAY_METRICS_PORT"]) > 0 and env["VITALSTREAM_GATEWAY_METRICS_HOST"] == "0.0.0.0"
        if command(service)[:1] == ["worker"]:
            assert int(env["VITALSTREAM_WORKER_METRICS_PORT"]) > 0  # faust binds 0.0.0.0
        if command(service)[:1] == ["api"]:
            assert env["VITALSTREAM_API_HOST"] == "0.0.0.0"


def test_published_ports():
    svc = services()
    assert "8080:8080" in svc["api"]["ports"]
    assert environment(svc["api"])["VITALSTREAM_API_PORT"] == "8080"
    assert "8883:8883" in svc["mosquitto"]["ports"]
    # Plain MQTT, Kafka and the metrics endpoints stay inside the compose network.
    published = [p for s in svc.values() for p in s.get("ports", [])]
    assert not any(str(p).split(":")[-1] == "1883" for p in published)
    assert "ports" not in svc["kafka"]
    assert all(str(p).startswith("127.0.0.1:") for p in svc["timescaledb"].get("ports", []))


def test_migrate_runs_once_before_every_app_service():
    svc = services()
    migrate = svc["migrate"]
    assert command(migrate) == ["migrate"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    for name, service in app_services().items():
        if name == "migrate":
            continue
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    for name in ("gateway", "worker", "dispatcher"):
        for sname, service in by_command(name).items():
            assert service["depends_on"]["kafka"]["condition"] == "service_healthy", sname
    for sname, service in by_command("gateway").items():
        assert service["depends_on"]["mosquitto"]["condition"] == "service_healthy", sname


def test_two_gateways_share_a_group_with_distinct_stable_client_ids():
    gateways = by_command("gateway")
    assert len(gateways) >= 2
    envs = [environment(s) for s in gateways.values()]
    groups = {e.get("VITALSTREAM_GATEWAY_SHARE_GROUP") for e in envs}
    assert len(groups) == 1 and None not in groups and "" not in groups
    ids = [e.get("VITALSTREAM_GATEWAY_CLIENT_ID") for e in envs]
    assert all(ids) and len(set(ids)) == len(ids), ids  # unset would be the hostname: changes per container
    for service in gateways.values():
        assert "deploy/mqtt/gateway.env" in [p for p, _ in env_files(service)]
        assert "--retire" not in command(service)


def test_two_workers_share_one_consumer_group():
    workers = by_command("worker")
    assert len(workers) >= 2
    app_ids = {environment(s).get("VITALSTREAM_WORKER_APP_ID") for s in workers.values()}
    assert len(app_ids) == 1 and None not in app_ids
    assert len(workers) <= load_settings(parse_env_file(ENV_EXAMPLE)).core.topic_partitions
    volumes = [v for s in workers.values() for v in s.get("volumes", [])]
    assert len(volumes) == len(set(volumes)), "workers must not share a state directory"


def test_kafka_is_kraft_with_auto_create_off():
    env = environment(services()["kafka"])
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(env["KAFKA_NODE_ID"] + "@")
    assert not any("ZOOKEEPER" in k for k in env)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    cluster_id = env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16  # a base64 UUID, as kafka-storage.sh wants
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"


def test_state_lives_in_declared_named_volumes():
    compose = load_compose()
    declared = set(compose["volumes"])
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} not declared"
    mounts = {name: [v.split(":")[1] for v in s.get("volumes", []) if not v.startswith((".", "/"))]
              for name, s in services().items()}
    assert "/var/lib/kafka/data" in mounts["kafka"]
    assert "/var/lib/postgresql/data" in mounts["timescaledb"]
    assert "/mosquitto/data" in mounts["mosquitto"]


def test_secrets_come_from_files_bootstrap_creates():
    bootstrap = (ROOT / "deploy" / "bootstrap.sh").read_text()
    for name, secret in load_compose()["secrets"].items():
        path = secret["file"]
        assert path.startswith("./deploy/secrets/"), name
        assert f"$here/secrets/{Path(path).name}" in bootstrap, f"bootstrap.sh does not create {path}"
    ignored = (ROOT / "deploy" / ".gitignore").read_text().split()
    assert {"/secrets/", "/mqtt/", "/certs/"} <= set(ignored)


def test_mosquitto_config_keeps_queued_messages_and_requires_auth_and_tls():
    conf = mosquitto_conf()
    settings = dict(conf)  # last wins, as in Mosquitto
    for key, value in conf:
        assert "#" not in value or key == "topic", f"{key} {value}: Mosquitto has no trailing comments"
    assert settings["persistence"] == "true"
    queued = int(settings["max_queued_messages"])
    assert queued == 0 or queued >= 1_000_000, "the default 1000 drops messages for a gateway that is down"
    assert settings["allow_anonymous"] == "false" and settings["per_listener_settings"] == "false"
    listeners = [value.split()[0] for key, value in conf if key == "listener"]
    assert listeners == ["1883", "8883"]
    tls = conf[[i for i, (k, v) in enumerate(conf) if k == "listener" and v.startswith("8883")][0]:]
    tls_keys = {k for k, _ in tls}
    assert {"certfile", "keyfile", "tls_version"} <= tls_keys
    # Files the broker reads live in the volume the mqtt-auth service fills.
    for key in ("password_file", "acl_file", "certfile", "keyfile"):
        assert settings[key].startswith("/mosquitto/auth/"), key
    mounts = services()["mosquitto"]["volumes"]
    assert "mosquitto-auth:/mosquitto/auth:ro" in mounts
    assert any(v.endswith(":/mosquitto/config/mosquitto.conf:ro") for v in mounts)


@pytest.mark.parametrize("service", ["mqtt-auth", "migrate"])
def test_one_shots_do_not_restart(service):
    assert services()[service]["restart"] == "no"


def _documented_runs() -> list[tuple[str, list[str]]]:
    """`docker compose run ... SERVICE ARGS` lines in the deployment doc and bootstrap script."""
    import shlex

    texts = [(ROOT / "docs" / "deployment.md").read_text(), (ROOT / "deploy" / "bootstrap.sh").read_text()]
    runs = []
    for text in texts:
        text = re.sub(r"\\\n\s*", " ", text)
        for match in re.finditer(r"docker compose run ([^\n`|#]+)", text):
            line = match.group(1).replace("$(", "(")
            words = shlex.split(re.sub(r"\$\{?\w+\}?", "1", line))  # shell variables: a placeholder value
            i = 0
            while i < len(words) and words[i].startswith("-"):  # compose's own options
                i += 2 if words[i] in ("--user", "-v", "-e", "--entrypoint") else 1
            runs.append((words[i], words[i + 1:]))
    return runs


def test_documented_compose_runs_are_real_commands():
    runs = _documented_runs()
    assert len(runs) >= 5
    parser = build_parser()
    known = services()
    for service, args in runs:
        assert service in known, service
        if not args:
            continue  # the service's own command
        assert is_app_service(service), f"{service} does not run vitalstream"
        parsed = parser.parse_args(args)
        assert callable(parsed.func), args


def is_app_service(name: str) -> bool:
    return name in app_services()
