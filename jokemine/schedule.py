"""``jokemine schedule --print cron|systemd|github``: ready-to-install schedules for ``jokemine refresh``.

Every schedule runs ``<checkout>/.venv/bin/python -m jokemine --config <config> --data-dir <data dir> refresh`` in
the checkout. Secrets (``HF_TOKEN``, ``praw_client_id``/``praw_client_secret``) never appear in the output: cron and
systemd read them from an environment file of the user's, GitHub Actions from repository secrets. Exit codes of
``refresh`` (:data:`jokemine.refresh.EXIT_CODES`): systemd counts 10 (published) as success and stale sources (11,
12) as failures, so ``OnFailure=`` alerts fire; the GitHub workflow passes 0/10, warns on 11/12, fails otherwise.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from jokemine.config import Config
from jokemine.errors import BadArgument

ENV_FILE = "~/.config/jokemine/env"
"""Where cron and systemd schedules read secrets from (``KEY=value`` lines; create it with mode 600)."""


def _hhmm(at: str) -> tuple[int, int]:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at)
    if not m:
        raise BadArgument(f"--at {at!r}: use HH:MM, e.g. 03:17")
    return int(m.group(1)), int(m.group(2))


def command(cfg: Config, data_dir: Path, checkout: Path | None = None) -> list[str]:
    """The refresh command line (absolute paths) for this checkout, config and data dir."""
    checkout = checkout or Path(__file__).resolve().parent.parent
    venv = checkout / ".venv" / "bin" / "python"
    python = str(venv) if venv.exists() else sys.executable
    cmd = [python, "-m", "jokemine"]
    if cfg.config_path:
        cmd += ["--config", str(Path(cfg.config_path).resolve())]
    return [*cmd, "--data-dir", str(Path(data_dir).resolve()), "refresh"]


def render(kind: str, cfg: Config, data_dir: Path, *, at: str = "03:17", checkout: Path | None = None) -> str:
    """The text of a ``cron`` line, a ``systemd`` service + timer pair, or a ``github`` Actions workflow. Raises
    :class:`BadArgument` for an unknown kind or a malformed ``at`` (``HH:MM``)."""
    hour, minute = _hhmm(at)
    checkout = (checkout or Path(__file__).resolve().parent.parent).resolve()
    cmd = command(cfg, data_dir, checkout)
    if kind == "cron":
        return (
            "# jokemine nightly refresh: install with `crontab -e`. cron mails the summary to MAILTO; secrets come\n"
            f"# from {ENV_FILE} (KEY=value lines, chmod 600). Exit codes: README 'Run it nightly'.\n"
            "MAILTO=you@example.org\n"
            f"{minute} {hour} * * * cd {shlex.quote(str(checkout))} && set -a && "
            f"{{ [ ! -f {ENV_FILE} ] || . {ENV_FILE}; }} && set +a && {shlex.join(cmd)}\n"
        )
    if kind == "systemd":
        exec_start = " ".join(_systemd_quote(c) for c in cmd)
        return (
            "# ~/.config/systemd/user/jokemine-refresh.service\n"
            "[Unit]\n"
            "Description=jokemine nightly refresh\n"
            "Wants=network-online.target\n"
            "After=network-online.target\n"
            "\n"
            "[Service]\n"
            "Type=oneshot\n"
            f"WorkingDirectory={checkout}\n"
            f"EnvironmentFile=-%h/{ENV_FILE.removeprefix('~/')}\n"
            f"ExecStart={exec_start}\n"
            "SuccessExitStatus=10\n"
            "TimeoutStartSec=6h\n"
            "Nice=10\n"
            "\n"
            "# ~/.config/systemd/user/jokemine-refresh.timer\n"
            "[Unit]\n"
            "Description=Run jokemine refresh nightly\n"
            "\n"
            "[Timer]\n"
            f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00\n"
            "Persistent=true\n"
            "RandomizedDelaySec=10min\n"
            "\n"
            "[Install]\n"
            "WantedBy=timers.target\n"
            "\n"
            "# enable: systemctl --user daemon-reload && systemctl --user enable --now jokemine-refresh.timer\n"
            "# logs:   journalctl --user -u jokemine-refresh.service\n"
        )
    if kind == "github":
        rel_cfg = _relative(Path(cfg.config_path).resolve(), checkout) if cfg.config_path else None
        if rel_cfg and rel_cfg.startswith("../"):
            raise BadArgument(
                f"--print github: the config {Path(str(cfg.config_path)).resolve()} is outside the checkout "
                f"{checkout}; the workflow runs in a fresh clone of the repository, so commit the config into it "
                "(or schedule with --print cron or systemd on this machine)"
            )
        config_arg = f" --config {rel_cfg}" if rel_cfg else ""
        return f"""# .github/workflows/jokemine-refresh.yml: nightly refresh, data dir kept in the Actions cache,
# new releases pushed to the Hub ([publish] repo_id) with the HF_TOKEN repository secret.
name: jokemine nightly refresh
on:
  schedule:
    - cron: "{minute} {hour} * * *"
  workflow_dispatch: {{}}
concurrency:
  group: jokemine-refresh
  cancel-in-progress: false
jobs:
  refresh:
    runs-on: ubuntu-latest
    timeout-minutes: 180
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: restore the data dir
        uses: actions/cache/restore@v4
        with:
          path: data
          key: jokemine-data-${{{{ github.run_id }}}}
          restore-keys: jokemine-data-
      - run: make install
      - name: refresh
        env:
          HF_TOKEN: ${{{{ secrets.HF_TOKEN }}}}
          praw_client_id: ${{{{ secrets.PRAW_CLIENT_ID }}}}
          praw_client_secret: ${{{{ secrets.PRAW_CLIENT_SECRET }}}}
        run: |
          set +e
          .venv/bin/python -m jokemine{config_arg} --data-dir data refresh
          rc=$?
          case $rc in
            0|10) exit 0 ;;
            11|12) echo "::warning::jokemine refresh: some sources are stale (exit $rc)"; exit 0 ;;
            *) exit $rc ;;
          esac
      - name: save the data dir
        if: always()
        uses: actions/cache/save@v4
        with:
          path: data
          key: jokemine-data-${{{{ github.run_id }}}}
"""
    raise BadArgument(f"--print {kind!r}: use cron, systemd or github")


def _systemd_quote(arg: str) -> str:
    """Quote one ExecStart argument (systemd.service(5) "Command lines": double quotes, backslash escapes)."""
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg.replace("%", "%%")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return os.path.relpath(path, base)
