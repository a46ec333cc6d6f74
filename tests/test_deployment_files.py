"""The files an admin deploys with are consistent: docker-compose runs what the Procfile runs,
and `.env.example` documents every variable the settings read."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_each_app_service_runs_its_procfile_command():
    services = compose()["services"]
    for name, command in procfile().items():
        assert name in services, f"docker-compose.yml has no {name} service"
        assert services[name]["command"] == shlex.split(command), name


def test_the_stack_has_its_servers_healthchecks_one_beat_and_migrations_first():
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "migrate"} <= set(services)
    for name in ("postgres", "redis", "web"):
        assert "healthcheck" in services[name], name
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    for name in procfile():
        if name == "sandbox":
            continue
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        env = services[name]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "reseller.settings.production"
        assert env["DATABASE_URL"].startswith("postgres://")


def _variables_read(path: Path) -> set[str]:
    text = path.read_text()
    return set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", text)) | set(
        re.findall(r"""environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""", text)
    )


def test_env_example_lists_every_variable_the_project_reads():
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    sources = [
        *(p for p in ROOT.glob("reseller/**/*.py") if p.name != "test.py"),  # not the test settings
        *ROOT.glob("*/management/commands/*.py"),
        ROOT / "sandbox" / "server.py",
        ROOT / "bin" / "ensure-env",
    ]
    read = set().union(*(_variables_read(path) for path in sources))
    missing = read - documented
    assert not missing, f"document these in .env.example: {sorted(missing)}"


def test_makefile_offers_the_readme_commands():
    makefile = (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    for target in ("run", "test", "bench", "chaos"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    assert "make run" in readme.split("\n## ")[0] and "make test" in readme.split("\n## ")[0]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_work_queue_has_a_worker_and_manual_orders_have_their_own():
    from reseller.core import queues

    consumed: dict[str, set[str]] = {}
    for name, command in procfile().items():
        words = shlex.split(command)
        if "worker" in words and "--queues" in words:
            consumed[name] = set(words[words.index("--queues") + 1].split(","))
    assert set().union(*consumed.values()) == set(queues.KINDS)
    people = [name for name, kinds in consumed.items() if queues.PEOPLE in kinds]
    assert len(people) == 1 and consumed[people[0]] == {queues.PEOPLE}


def test_var_dir_moves_every_runtime_file_of_a_machine_without_servers(tmp_path):
    """`make chaos` runs a second back-office beside a developer's `make run`: nothing in var/."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['NAME'], s.STATIC_ROOT, s.CELERY_BEAT_SCHEDULE_FILENAME, "
        "s.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reseller.settings.local",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    paths = done.stdout.split()
    assert len(paths) == 4 and all(path.startswith(str(tmp_path)) for path in paths), paths
    assert (tmp_path / "broker" / "queue").is_dir()
