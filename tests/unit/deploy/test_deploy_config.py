"""The files under deploy/ agree with the code: commands, settings, metric names and shapes.

Nothing here starts a container; the files are parsed and checked against the CLI parser,
`Settings.model_fields` and the metrics registry, so a renamed command, setting or metric
breaks this test instead of a deployment.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from base.metrics import create_metrics
from base.settings import Settings
from credit.cli import build_parser
from schemas.catalog import Catalog

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"})
K8S_FILES = sorted((DEPLOY / "k8s").rglob("*.yaml"))
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "credit-ingest.json"
CREDIT_SERVICES = {"gateway": "gateway", "worker": "worker", "sink": "sink"}
# Labels Prometheus adds to every series, plus the histogram bucket bound.
TARGET_LABELS = {"job", "instance", "le", "__name__"}
# Exported by the code later; checked on its own in test_department_late_gauge_is_exported.
PENDING_GAUGE = "credit_department_late"


# -- helpers -------------------------------------------------------------------------------
def _docs(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


@cache
def _compose() -> dict[str, Any]:
    (doc,) = _docs(DEPLOY / "docker-compose.yml")
    assert isinstance(doc, dict)
    return doc


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", …]
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _argv(command: Any) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


@cache
def _k8s_objects() -> tuple[tuple[Path, dict[str, Any]], ...]:
    return tuple(
        (path, doc)
        for path in K8S_FILES
        for doc in _docs(path)
        if isinstance(doc, dict) and "kind" in doc and "apiVersion" in doc
    )


def _k8s(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in _k8s_objects() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name} in deploy/k8s, found {len(found)}"
    return found[0]


def _pod_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def _subcommands() -> set[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("credit.cli.parser.build_parser() has no subcommands")


@cache
def _metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """Family name → (type, label names) of everything a process's `/metrics` exposes.

    That is `create_metrics()` plus the families computed from the store at scrape time
    (rows per provider, department lateness), fed here with one made-up row each.
    """
    from prometheus_client.parser import text_string_to_metric_families

    metrics = create_metrics()
    labels: dict[str, frozenset[str]] = {}
    for field, collector in metrics._asdict().items():
        if field == "registry" or not hasattr(collector, "describe"):
            continue
        for family in collector.describe():
            labels[family.name] = frozenset(getattr(collector, "_labelnames", ()))
    out = {f.name: (f.type, labels.get(f.name, frozenset())) for f in metrics.registry.collect()}
    row = {"class_code": "c", "provider": "p", "received": 1, "stored": 1, "rejected": 0}
    late = {"department": "d", "district": "", "class_code": "c", "late": True,
            "today": dt.date(2026, 1, 30), "last_deadline": dt.date(2026, 1, 23),
            "days_late": 7}  # fmt: skip
    text = metrics.exposition(None, lambda: [row], lambda: [late]).decode()
    for family in text_string_to_metric_families(text):
        if family.name not in out and family.samples:
            out[family.name] = (family.type, frozenset(family.samples[0].labels))
    return out


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}


@cache
def _series() -> dict[str, str]:
    """Every series name a query can use → its family (counters only as `_total`)."""
    out = {}
    for family, (kind, _) in _metrics().items():
        for suffix in _SUFFIXES.get(kind, ("",)):
            out[family + suffix] = family
    return out


_METRIC = re.compile(r"\b(credit_[a-z0-9_]+)\b")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")


def _check_expr(expr: str, where: str) -> list[str]:
    """Problems of one PromQL expression: unknown metric names, labels no metric has."""
    problems = []
    families = set()
    for name in _METRIC.findall(expr):
        if name == PENDING_GAUGE:
            continue
        if name not in _series():
            hint = " (counters are queried as NAME_total)" if name in _metrics() else ""
            problems.append(f"{where}: {name} is not exported by create_metrics(){hint}")
        else:
            families.add(_series()[name])
    if families and PENDING_GAUGE not in expr:
        known = set(TARGET_LABELS)
        for family in families:
            known |= _metrics()[family][1]
        used = {lab.strip() for grp in _GROUPING.findall(expr) for lab in grp.split(",")}
        used |= {lab for m in _MATCHERS.findall(expr) for lab in _MATCHER_LABEL.findall(m)}
        used.discard("")
        problems += [f"{where}: no metric in it has the label '{lab}'" for lab in used - known]
    return problems


def _alert_rules() -> list[dict[str, Any]]:
    (doc,) = _docs(DEPLOY / "prometheus" / "alerts.yml")
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _dashboard_exprs() -> list[tuple[str, str]]:
    dash = _dashboard()
    exprs = [
        (f"panel '{p['title']}'", t["expr"]) for p in dash["panels"] for t in p.get("targets", [])
    ]
    for var in dash.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        exprs.append((f"variable ${var['name']}", text))
    return exprs


@cache
def _load_create_topics() -> ModuleType:
    """deploy/scripts/create_topics.py as a module (it is a script, not in a package)."""
    path = DEPLOY / "scripts" / "create_topics.py"
    spec = importlib.util.spec_from_file_location("deploy_create_topics", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


# -- every file parses ---------------------------------------------------------------------
@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert _docs(path), f"{path} holds no YAML document"


# -- docker compose ------------------------------------------------------------------------
def test_compose_commands_name_existing_subcommands() -> None:
    known = _subcommands()
    for name, service in _services().items():
        argv = _argv(service.get("command"))
        if argv[:1] == ["credit"]:
            assert len(argv) > 1 and argv[1] in known, (
                f"service {name}: `{' '.join(argv)}` is not a subcommand of credit "
                f"(known: {sorted(known)})"
            )


def test_compose_runs_gateway_workers_and_sink_from_one_image() -> None:
    services = _services()
    for name, sub in CREDIT_SERVICES.items():
        assert _argv(services[name].get("command")) == ["credit", sub]
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert len({services[n]["image"] for n in CREDIT_SERVICES}) == 1
    replicas = services["worker"]["deploy"]["replicas"]
    partitions = int(_env(services["worker"])["CREDIT_TOPIC_PARTITIONS"])
    assert 2 <= replicas <= partitions, "worker replicas beyond the partitions sit idle"


def test_compose_kafka_is_a_three_node_kraft_cluster_with_rf3() -> None:
    brokers = {
        n: s for n, s in _services().items() if s.get("image", "").startswith("apache/kafka")
    }
    assert len(brokers) == 3
    node_ids = set()
    for name, service in brokers.items():
        env = _env(service)
        assert "controller" in env["KAFKA_PROCESS_ROLES"]
        assert len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == 3
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert f"//{name}:" in env["KAFKA_ADVERTISED_LISTENERS"]
        node_ids.add(env["KAFKA_NODE_ID"])
    assert len(node_ids) == 3
    bootstrap = _env(_services()["gateway"])["CREDIT_KAFKA_BOOTSTRAP"]
    assert {h.split(":")[0] for h in bootstrap.split(",")} == set(brokers)


def test_compose_has_registry_clickhouse_prometheus_grafana() -> None:
    images = {s.get("image", "").split(":")[0] for s in _services().values()}
    assert "clickhouse/clickhouse-server" in images
    assert images & {"confluentinc/cp-schema-registry", "ghcr.io/aiven-open/karapace"}
    assert {"prom/prometheus", "grafana/grafana"} <= images


def test_every_long_running_compose_service_has_a_health_check() -> None:
    for name, service in _services().items():
        check = service.get("healthcheck") or {}
        if service.get("restart") == "no":  # one-shot jobs
            continue
        assert check.get("test") and not check.get("disable"), f"service {name}: no healthcheck"


def test_compose_bind_mounts_exist() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"service {name}: {source} does not exist"


def test_credit_variables_are_settings_fields() -> None:
    fields = set(Settings.model_fields)
    files = [DEPLOY / "docker-compose.yml", DEPLOY / "Dockerfile", *K8S_FILES]
    seen = set()
    for path in files:
        for var in re.findall(r"\bCREDIT_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")):
            seen.add(var)
            assert var.removeprefix("CREDIT_").lower() in fields, (
                f"{path.relative_to(DEPLOY)}: {var} is not a field of base.settings.Settings"
            )
    assert {"CREDIT_KAFKA_BOOTSTRAP", "CREDIT_SCHEMA_REGISTRY_URL", "CREDIT_CLICKHOUSE_URL"} <= seen


def test_dockerfile_installs_the_package_on_python_311_slim() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"pip install \.(\s|$)", text)
    # the one-shot topics job runs the script where the Dockerfile puts it
    (target,) = re.findall(r"COPY deploy/scripts/create_topics.py (\S+)", text)
    assert _argv(_services()["topics"]["command"])[1] == target
    for _, doc in _k8s_objects():
        if doc["kind"] == "Deployment":
            commands = [_argv(c.get("command")) for c in _pod_containers(doc)]
            assert ["python", target, "--replication-factor", "3"] in commands


# -- Kubernetes ----------------------------------------------------------------------------
def test_k8s_deployments_run_gateway_worker_sink_with_health_probes() -> None:
    for sub in CREDIT_SERVICES.values():
        deployment = _k8s("Deployment", f"credit-{sub}")
        main = deployment["spec"]["template"]["spec"]["containers"][0]
        assert _argv(main["command"]) == ["credit", sub]
        # readiness: /health (503 until broker, store, stages or Faust recovery are ready);
        # liveness: /live, so a ClickHouse outage or a long recovery restarts nothing
        assert main["readinessProbe"]["httpGet"]["path"] == "/health", f"credit-{sub}"
        assert main["livenessProbe"]["httpGet"]["path"] == "/live", f"credit-{sub}"
        assert {"configMapRef": {"name": "credit-env"}} in main["envFrom"]


def test_k8s_commands_name_existing_subcommands() -> None:
    known = _subcommands()
    for path, doc in _k8s_objects():
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in _pod_containers(doc):
            argv = _argv(container.get("command")) + _argv(container.get("args"))
            if argv[:1] == ["credit"]:
                assert len(argv) > 1 and argv[1] in known, (
                    f"{path.relative_to(DEPLOY)}: `{' '.join(argv)}` is not a subcommand of "
                    f"credit (known: {sorted(known)})"
                )


def test_k8s_service_hpa_and_replicas_respect_partitions() -> None:
    config = _k8s("ConfigMap", "credit-env")["data"]
    partitions = int(config["CREDIT_TOPIC_PARTITIONS"])
    hpa = _k8s("HorizontalPodAutoscaler", "credit-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "credit-worker"
    assert hpa["spec"]["maxReplicas"] == partitions, "workers beyond the partitions sit idle"
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    for name in ("credit-worker", "credit-sink"):
        assert _k8s("Deployment", name)["spec"]["replicas"] <= partitions
    service = _k8s("Service", "credit-gateway")
    gateway = _k8s("Deployment", "credit-gateway")
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_kustomizations_list_every_manifest_and_agree_on_the_image() -> None:
    images = []
    for path in sorted((DEPLOY / "k8s").rglob("kustomization.yaml")):
        (kustomization,) = _docs(path)
        siblings = {p.name for p in path.parent.glob("*.yaml")} - {path.name}
        assert set(kustomization["resources"]) == siblings, path.relative_to(DEPLOY)
        images.append(kustomization["images"])
    assert len(images) >= 2 and all(i == images[0] for i in images)


# -- Prometheus ----------------------------------------------------------------------------
def test_alert_rules_have_alert_expr_for_labels_annotations() -> None:
    rules = _alert_rules()
    assert rules
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, rule.get("alert")
        assert re.fullmatch(r"\d+[smhd]", str(rule["for"])), rule["alert"]
        assert rule["labels"].get("severity") in {"critical", "warning", "info"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_alerts_cover_lag_dead_letters_lateness_sink_and_latency() -> None:
    used = {m for r in _alert_rules() for m in _METRIC.findall(r["expr"])}
    assert {
        "credit_consumer_lag",
        "credit_worker_dead_letters_total",
        "credit_producer_rejected_total",
        "credit_department_late",
        "credit_sink_rows_total",
        "credit_worker_records_total",
        "credit_sink_errors_total",
        "credit_end_to_end_seconds_bucket",
        "credit_broker_errors_total",
    } <= used


def test_alert_metrics_and_labels_exist() -> None:
    problems = [p for r in _alert_rules() for p in _check_expr(r["expr"], r["alert"])]
    assert not problems, "\n".join(problems)


def test_department_late_gauge_is_exported() -> None:
    """The lateness alert and panel need this gauge; it fails until the code exports it."""
    assert PENDING_GAUGE in _metrics(), (
        f"{PENDING_GAUGE} is not exported on /metrics: add a gauge with labels "
        "(department, district, class_code), days past the reporting deadline (0 = on time)"
    )
    kind, labels = _metrics()[PENDING_GAUGE]
    assert kind == "gauge"
    assert labels == {"department", "district", "class_code"}


def test_prometheus_scrapes_every_credit_process_and_loads_the_rules() -> None:
    (config,) = _docs(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    port = _env(_services()["gateway"])["CREDIT_API_PORT"]
    for sub in CREDIT_SERVICES.values():
        job = jobs[f"credit-{sub}"]
        targets = [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        targets += [
            f"{n}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for n in sd["names"]
        ]
        assert targets == [f"{sub}:{port}"], f"credit-{sub}: {targets}"
    mounts = dict(str(v).split(":")[:2] for v in _services()["prometheus"]["volumes"])
    for rule_file in config["rule_files"]:
        assert rule_file in mounts.values(), f"{rule_file} is not mounted into prometheus"


def test_promtool_checks_and_unit_tests_of_the_rules(tmp_path: Path) -> None:
    assert shutil.which("promtool"), (
        "promtool is missing: `make test` installs Debian's prometheus package (needs root); "
        "or run `apt-get install prometheus`"
    )
    prom = DEPLOY / "prometheus"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        run = subprocess.run(["promtool", *args], cwd=prom, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    config = (prom / "prometheus.yml").read_text(encoding="utf-8")
    local = tmp_path / "prometheus.yml"
    local.write_text(config.replace("/etc/prometheus/alerts.yml", str(prom / "alerts.yml")))
    run = subprocess.run(
        ["promtool", "check", "config", str(local)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


# -- Grafana -------------------------------------------------------------------------------
def test_dashboard_is_valid_json_with_panels_on_the_provisioned_datasource() -> None:
    dash = _dashboard()
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert len(panels) >= 7
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    (sources,) = _docs(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    uids = {d["uid"] for d in sources["datasources"]}
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] in uids, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]


def test_dashboard_shows_the_required_views() -> None:
    used = {m for _, expr in _dashboard_exprs() for m in _METRIC.findall(expr)}
    assert {
        "credit_records_received_total",  # ingestion rate by class
        "credit_producer_rejected_total",  # rejected by reason
        "credit_worker_dead_letters_total",
        "credit_consumer_lag",
        "credit_sink_batch_rows_bucket",
        "credit_sink_batch_seconds_bucket",
        "credit_end_to_end_seconds_bucket",
        "credit_department_late",
    } <= used
    exprs = " ".join(e for _, e in _dashboard_exprs())
    assert "histogram_quantile(0.5," in exprs and "histogram_quantile(0.99," in exprs


def test_dashboard_metrics_and_labels_exist() -> None:
    problems = [p for where, expr in _dashboard_exprs() for p in _check_expr(expr, where)]
    assert not problems, "\n".join(problems)


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    (providers,) = _docs(DEPLOY / "grafana" / "provisioning" / "dashboards" / "credit-ingest.yml")
    assert providers["apiVersion"] == 1
    mounts = dict(str(v).split(":")[:2] for v in _services()["grafana"]["volumes"])
    for provider in providers["providers"]:
        assert provider["type"] == "file"
        assert mounts.get("./grafana/dashboards") == provider["options"]["path"]


# -- topic bootstrap script ----------------------------------------------------------------
def test_create_topics_plans_every_platform_topic_with_the_replication_factor(
    catalog: Catalog,
) -> None:
    from base.topics import DEAD_LETTER_TOPIC, all_topics

    script = _load_create_topics()
    topics = all_topics(catalog)
    specs = {s.name: s for s in script.plan(topics, 6, 3, 7, 30)}
    assert set(topics) <= set(specs)
    assert {s.replication for s in specs.values()} == {3}
    assert all(specs[t].partitions == 6 for t in topics)
    day_ms = 24 * 3600 * 1000
    assert specs[DEAD_LETTER_TOPIC].config["retention.ms"] == str(30 * day_ms)
    assert specs[topics[0]].config["retention.ms"] == str(7 * day_ms)
    changelogs = [s for name, s in specs.items() if name.endswith("-changelog")]
    assert changelogs and all(s.config == {"cleanup.policy": "compact"} for s in changelogs)
    assert script.DEAD_LETTER_TOPIC == DEAD_LETTER_TOPIC


def test_create_topics_knows_the_workers_app_id_and_tables() -> None:
    """The script spells out Faust's topic names; keep them in step with streams/faust/worker.py."""
    script = _load_create_topics()
    source = (ROOT / "streams" / "faust" / "worker.py").read_text(encoding="utf-8")
    assert re.search(rf'^APP_ID = "{re.escape(script.WORKER_APP_ID)}"$', source, re.M)
    tables = re.findall(r'\.(?:GlobalTable|Table)\(\s*"([^"]+)"', source)
    assert sorted(tables) == sorted(script.WORKER_TABLES)


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    """`credit catalog --json | head -1`: the pipe closes early; the command ends quietly."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "credit.cli", "catalog", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() in (b"[", b"{")
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 1)
    assert "Traceback" not in err, err
