"""The devhost VM: Debian 12, no external IP, Shielded VM, OS Login, reached by IAP SSH; it
serves the web page (`dataproc-faces serve --cloud`) at boot, reached by IAP TCP forwarding."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig

APP_DIR = "/opt/dataproc-faces"
WEB_PORT = 8080  # the page's port on the VM; the firewall opens it to IAP's range only
WEB_UNIT = "/etc/systemd/system/dataproc-faces-web.service"
WEB_ENV = "/etc/dataproc-faces/web.env"
WEB_STATE = "/var/lib/dataproc-faces-web"
SYNC = "/usr/local/sbin/dataproc-faces-sync"
SYNC_UNIT = "/etc/systemd/system/dataproc-faces-sync.service"
SYNC_TIMER = "/etc/systemd/system/dataproc-faces-sync.timer"
SYNC_MINUTES = 2  # how soon after an `up` the devhost runs the new code at the latest
PROFILE = "/etc/profile.d/dataproc-faces.sh"
FOLLOW_UNIT = "/etc/systemd/system/dataproc-faces-follow.service"
FOLLOW_TIMER = "/etc/systemd/system/dataproc-faces-follow.timer"

# With the change feed (config feed): `follow` on a timer. A oneshot service: systemd never
# starts it again while a drain (and the run it waits for) is still going.
_FOLLOW_ON = """cat > {unit} <<'EOS'
[Unit]
Description=dataproc-faces: run the photos the input bucket's change feed names
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
EnvironmentFile={web_env}
EnvironmentFile=-{app}/current.env
ExecStart=/usr/local/bin/dataproc-faces follow
DynamicUser=yes
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes
EOS
cat > {timer} <<'EOS'
[Unit]
Description=dataproc-faces: drain the change feed every {seconds} seconds

[Timer]
OnBootSec={seconds}s
OnUnitInactiveSec={seconds}s

[Install]
WantedBy=timers.target
EOS
systemctl daemon-reload
systemctl enable --now dataproc-faces-follow.timer"""
# Without it (or after `feed: false`): the timer goes at the next boot.
_FOLLOW_OFF = """if [ -e {timer} ]; then
  systemctl disable --now dataproc-faces-follow.timer || true
  rm -f {timer} {unit}
  systemctl daemon-reload
fi"""

_RETRY = """RETRY_ATTEMPTS={attempts}
retry() {{
  local attempt=1 delay={first_delay}
  until "$@"; do
    if [ "$attempt" -ge "$RETRY_ATTEMPTS" ]; then
      echo "dataproc-faces: gave up after $attempt attempts: $*" >&2
      return 1
    fi
    echo "dataproc-faces: attempt $attempt failed, retrying in ${{delay}}s: $*" >&2
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2 > {max_delay} ? {max_delay} : delay * 2))
  done
}}"""

# Follows the artefacts the stack last deployed. A changed `startup-script` is not run again by
# Compute Engine (it runs at boot), and an `up` that changes the job deletes the old content-hashed
# objects: so the script names only the fixed-name object listing the current ones.
_SYNC = """#!/bin/bash
# dataproc-faces: keep this devhost on the artefacts the stack last deployed (infra/devhost.py).
# Reads {current}; when it changed, copies the package zip, main file, requirements and
# constraints, installs the requirements under the constraints, then restarts the web page.
set -euo pipefail
APP={app}
{retry}
mkdir -p "$APP"
retry gcloud storage cp {current} "$APP/current.env.new"
if [ -x "$APP/venv/bin/python" ] && [ -f "$APP/dataproc_faces.zip" ] \\
  && cmp -s "$APP/current.env.new" "$APP/current.env"; then
  rm -f "$APP/current.env.new"
  exit 0
fi
set -a
# shellcheck source=/dev/null
. "$APP/current.env.new"
set +a
retry gcloud storage cp "$DATAPROC_FACES_REQUIREMENTS" "$APP/requirements.txt"
retry gcloud storage cp "$DATAPROC_FACES_CONSTRAINTS" "$APP/constraints.txt"
retry gcloud storage cp "$DATAPROC_FACES_JOB_PACKAGE" "$APP/dataproc_faces.zip.new"
retry gcloud storage cp "$DATAPROC_FACES_JOB_MAIN" "$APP/main.py.new"
[ -x "$APP/venv/bin/python" ] || python3 -m venv "$APP/venv"
retry "$APP/venv/bin/pip" install -q -r "$APP/requirements.txt" -c "$APP/constraints.txt"
mv -f "$APP/dataproc_faces.zip.new" "$APP/dataproc_faces.zip"
mv -f "$APP/main.py.new" "$APP/main.py"
mv -f "$APP/current.env.new" "$APP/current.env"
echo "dataproc-faces: now on $DATAPROC_FACES_JOB_PACKAGE"
systemctl restart dataproc-faces-web.service"""

_STARTUP = """#!/bin/bash
# dataproc-faces devhost setup (runs at every boot; idempotent). What it does:
#  1. installs python3-venv and pip from Debian;
#  2. installs {sync}, which follows the artefacts the stack last deployed (named by
#     {current}): it copies the package zip, main file, pinned requirements and
#     constraints, installs them into {app}/venv and restarts the page when they change; a
#     systemd timer runs it every {minutes} minutes, as an `up` does not run this script again;
#  3. installs /usr/local/bin/dataproc-faces, which runs the package from the zip in that venv;
#  4. writes {profile} with the stack's buckets and cluster (and the current
#     artefacts' URIs from {app}/current.env);
#  5. runs the web page as a systemd service under a dynamic unprivileged user, on port {port}
#     of the VM's internal address (the firewall admits only IAP's TCP forwarders);
#  6. runs {sync} once;
#  7. with the change feed, runs `dataproc-faces follow` on a systemd timer (else removes it).
# Every network step is retried with backoff: at first boot the VM's IAM grants may still be
# propagating (403 from Cloud Storage) and Cloud NAT may not route yet (apt, pip).
set -euo pipefail
APP={app}
export DEBIAN_FRONTEND=noninteractive
{retry}
if ! dpkg -s python3-venv python3-pip >/dev/null 2>&1; then
  retry apt-get update -q
  retry apt-get install -y -q python3-venv python3-pip
fi
mkdir -p "$APP" "$(dirname {sync})"
cat > {sync} <<'EOS'
{sync_script}
EOS
chmod 755 {sync}
cat > {sync_unit} <<'EOS'
[Unit]
Description=dataproc-faces: follow the artefacts the stack last deployed
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={sync}
EOS
cat > {sync_timer} <<'EOS'
[Unit]
Description=dataproc-faces: follow the artefacts the stack last deployed, every {minutes} minutes

[Timer]
OnActiveSec={minutes}min
OnUnitActiveSec={minutes}min

[Install]
WantedBy=timers.target
EOS
cat > /usr/local/bin/dataproc-faces <<'EOS'
#!/bin/sh
PYTHONPATH={app}/dataproc_faces.zip exec {app}/venv/bin/python -m dataproc_faces "$@"
EOS
chmod 755 /usr/local/bin/dataproc-faces
cat > {profile} <<'EOS'
{env}
if [ -r {app}/current.env ]; then
  set -a
  . {app}/current.env
  set +a
fi
EOS
mkdir -p "$(dirname {web_env})"
cat > {web_env} <<'EOS'
{service_env}
EOS
cat > {web_unit} <<'EOS'
[Unit]
Description=dataproc-faces web page: upload photos, run the job on Dataproc, browse results
Wants=network-online.target
After=network-online.target

[Service]
EnvironmentFile={web_env}
EnvironmentFile=-{app}/current.env
ExecStart=/usr/local/bin/dataproc-faces serve --cloud --host 0.0.0.0 --port {port} \\
  --data {web_state}
DynamicUser=yes
StateDirectory={state_name}
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
EOS
systemctl daemon-reload
systemctl enable dataproc-faces-web.service
systemctl enable --now dataproc-faces-sync.timer
{sync}
systemctl start dataproc-faces-web.service
{follow}
echo "dataproc-faces: devhost ready"
"""


# Backoff 5, 10, 20, 40, then 60 s: about 8 minutes before a step gives up, longer than the
# up to 7 minutes Google documents for an IAM change to propagate.
RETRY_ATTEMPTS = 12
RETRY_FIRST_DELAY = 5
RETRY_MAX_DELAY = 60


def render_sync_script(current_uri: str) -> str:
    """What SYNC runs; a pure function so tests can run exactly what the VM runs."""
    retry = _RETRY.format(
        attempts=RETRY_ATTEMPTS, first_delay=RETRY_FIRST_DELAY, max_delay=RETRY_MAX_DELAY
    )
    return _SYNC.format(app=APP_DIR, current=shlex.quote(current_uri), retry=retry)


def render_follow(seconds: int | None) -> str:
    """The startup script's step 7: `follow` every `seconds`, or no timer (None)."""
    if seconds is None:
        return _FOLLOW_OFF.format(timer=FOLLOW_TIMER, unit=FOLLOW_UNIT)
    return _FOLLOW_ON.format(
        unit=FOLLOW_UNIT, timer=FOLLOW_TIMER, web_env=WEB_ENV, app=APP_DIR, seconds=seconds
    )


def render_startup_script(
    current_uri: str, env: Mapping[str, str], follow_every: int | None = None
) -> str:
    """The startup script text; it names no content-hashed artefact, so an `up` that changes
    the job leaves it (and the VM's metadata) unchanged."""
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    service_env = "\n".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    retry = _RETRY.format(
        attempts=RETRY_ATTEMPTS, first_delay=RETRY_FIRST_DELAY, max_delay=RETRY_MAX_DELAY
    )
    return _STARTUP.format(
        app=APP_DIR,
        retry=retry,
        current=shlex.quote(current_uri),
        sync=SYNC,
        sync_script=render_sync_script(current_uri),
        sync_unit=SYNC_UNIT,
        sync_timer=SYNC_TIMER,
        minutes=SYNC_MINUTES,
        profile=PROFILE,
        env=exports,
        service_env=service_env,
        port=WEB_PORT,
        web_env=WEB_ENV,
        web_unit=WEB_UNIT,
        web_state=WEB_STATE,
        state_name=WEB_STATE.rsplit("/", 1)[1],
        follow=render_follow(follow_every),
    )


class Devhost(pulumi.ComponentResource):
    """Where a user uploads images and submits jobs from, without any public address."""

    instance: gcp.compute.Instance
    ssh_command: pulumi.Output[str]
    web_tunnel_command: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        subnet: gcp.compute.Subnetwork,
        network_tag: str,
        service_account: gcp.serviceaccount.Account,
        current_uri: pulumi.Input[str],
        env: Mapping[str, pulumi.Input[str]],
        follow_every: int | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dataproc-faces:infra:Devhost", name, None, opts)
        script = pulumi.Output.all(current=current_uri, env=dict(env)).apply(
            lambda v: render_startup_script(v["current"], v["env"], follow_every)
        )
        instance_name = f"{cfg.prefix}-devhost"
        self.instance = gcp.compute.Instance(
            f"{name}-vm",
            name=instance_name,
            project=cfg.project,
            zone=cfg.zone,
            machine_type=cfg.devhost_machine_type,
            labels=cfg.labels,
            tags=[network_tag],
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image="debian-cloud/debian-12", size=20, type="pd-balanced"
                ),
            ),
            # No access_configs: no external IP. Egress goes through Cloud NAT.
            network_interfaces=[
                gcp.compute.InstanceNetworkInterfaceArgs(subnetwork=subnet.self_link)
            ],
            service_account=gcp.compute.InstanceServiceAccountArgs(
                email=service_account.email,
                scopes=["https://www.googleapis.com/auth/cloud-platform"],
            ),
            shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(
                enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            # The `startup-script` metadata key (not metadata_startup_script): a change updates
            # in place instead of replacing the VM, but runs only at the next boot. The script
            # names no content-hashed artefact (a timer follows them), so job changes leave it be.
            metadata={
                "enable-oslogin": "TRUE",
                "block-project-ssh-keys": "TRUE",
                "startup-script": script,
            },
            allow_stopping_for_update=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.ssh_command = pulumi.Output.concat(
            "gcloud compute ssh ",
            self.instance.name,
            " --tunnel-through-iap --zone ",
            cfg.zone,
            " --project ",
            cfg.project,
        )
        # The page on http://localhost:WEB_PORT through IAP (roles/iap.tunnelResourceAccessor).
        self.web_tunnel_command = pulumi.Output.concat(
            "gcloud compute start-iap-tunnel ",
            self.instance.name,
            f" {WEB_PORT} --local-host-port=localhost:{WEB_PORT} --zone ",
            cfg.zone,
            " --project ",
            cfg.project,
        )
        self.register_outputs(
            {
                "name": self.instance.name,
                "ssh_command": self.ssh_command,
                "web_tunnel_command": self.web_tunnel_command,
            }
        )
