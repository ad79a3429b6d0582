#!/usr/bin/env bash
# After the first `pulumi up` of a stack, checks what only a real project can show, one line per
# check (PASS, FAIL or SKIP) and exit status 1 if any failed:
#   preview  `pulumi preview --refresh --diff --expect-no-changes`: no perpetual diff, nothing the
#            provider reads back differently (a single-node worker group, scopes, an object)
#   job      the Dataproc job `up` submitted ended DONE, or on a stack whose runner is serverless
#            the batch ended SUCCEEDED (skipped when job_submit is false or no image is set yet)
#   init     the cluster is RUNNING and its init action logged success on the master node
#            (skipped on a serverless stack: no cluster; batches run in the batch image)
#   devhost  the devhost's startup script reached "devhost ready" (serial console)
#   nat      Cloud NAT maps ports for the devhost and the cluster's master (their only egress;
#            a serverless stack: the devhost only)
#   bf16     the job's workers ran OpenVINO in bf16 (machine_family with AMX), or RetinaFace's int8
#            network on CPUs without it; fp32 fails (skipped without job)
#   code     the devhost runs the artefacts the stack last deployed (its sync timer followed `up`)
# Usage: scripts/first-deploy-check.sh [STACK]   (default: the selected stack)
# Needs: pulumi and gcloud, logged in; run from the repository root.
set -uo pipefail

FAILED=0

# report STATUS CHECK DETAIL: one line; a FAIL makes the exit status 1.
report() {
  printf '%-4s %-8s %s\n' "$1" "$2" "$3"
  if [ "$1" = FAIL ]; then FAILED=1; fi
}

# preview_changes: `pulumi preview --diff` output on stdin -> "TYPE NAME (OP)" per changed resource.
preview_changes() {
  awk '
    match($0, /^[ \t]*(\+-|-\+|\+\+|--|[-+~])[ ]*[A-Za-z0-9_.-]+:[A-Za-z0-9_\/.-]+:[A-Za-z0-9_]+: \([a-z-]+\)/) {
      line = substr($0, RSTART, RLENGTH)
      sub(/^[ \t]*(\+-|-\+|\+\+|--|[-+~])[ ]*/, "", line)
      op = line; sub(/^.*: \(/, "", op); sub(/\)$/, "", op)
      type = line; sub(/: \([a-z-]+\)$/, "", type)
      pending = type " (" op ")"
      next
    }
    pending != "" && /\[urn=/ {
      name = $0; sub(/^.*::/, "", name); sub(/\].*$/, "", name)
      print pending " " name
      pending = ""
    }
    END { if (pending != "") print pending }
  '
}

# job_verdict STATE DETAILS: the job line from the state `gcloud dataproc jobs describe` reports
# (a batch's, from `gcloud dataproc batches describe`: SUCCEEDED, FAILED, CANCELLED, ...).
job_verdict() {
  case "$1" in
    DONE | SUCCEEDED) report PASS job "ended $1" ;;
    NOT_SUBMITTED*batch_image*) report SKIP job "no batch yet: batch_image is empty; push the image (make batch-image-push), set batch_image to the reference it prints and run pulumi up again" ;;
    NOT_SUBMITTED*) report SKIP job "no job in this stack (dataproc-faces:job_submit is false)" ;;
    "") report FAIL job "no state read for the job: ${2:-not found}" ;;
    PENDING | SETUP_DONE | RUNNING | CANCELLING) report FAIL job "still $1: run this again when it has ended" ;;
    *) report FAIL job "ended $1${2:+: $2}" ;;
  esac
}

# init_verdict CLUSTER_STATE: the init action's output on the master on stdin.
init_verdict() {
  local log last
  log="$(cat)"
  if [ "$1" != RUNNING ]; then
    report FAIL init "cluster is ${1:-missing} (deleted after idle_delete_ttl? run pulumi up --refresh)"
  elif last="$(grep -m1 'install_opencv: ERROR:' <<<"$log")"; then
    report FAIL init "${last#*install_opencv: }"
  elif last="$(grep -E 'install_opencv: (done: |.*nothing to do)' <<<"$log" | tail -n1)"; then
    report PASS init "${last#*install_opencv: }"
  else
    report FAIL init "no success line from the init action on the master"
  fi
}

# devhost_verdict: the devhost's serial console output on stdin.
devhost_verdict() {
  local log last
  log="$(cat)"
  if last="$(grep -E 'dataproc-faces: (gave up|pip install failed)|startup-script.*(exit status [1-9]|failed with error)' <<<"$log" | tail -n1)"; then
    report FAIL devhost "startup script failed: ${last##*]: }"
  elif grep -q 'dataproc-faces: devhost ready' <<<"$log"; then
    report PASS devhost "startup script reached 'devhost ready'"
  else
    report FAIL devhost "no 'devhost ready' in the boot log yet (still booting? wait and rerun)"
  fi
}

# nat_verdict VM...: `get-nat-mapping-info --format 'value(instanceName,...natIpPortRanges[0])'`
# on stdin (name TAB ip:ports per VM); every VM must have NAT ports.
nat_verdict() {
  local mappings vm missing=() seen=()
  mappings="$(cat)"
  for vm in "$@"; do
    if awk -F'\t' -v vm="$vm" '$1 == vm && $2 != "" { found = 1 } END { exit !found }' <<<"$mappings"; then
      seen+=("$vm")
    else
      missing+=("$vm")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    report PASS nat "NAT ports mapped for ${seen[*]}"
  else
    report FAIL nat "no NAT mapping for ${missing[*]}"
  fi
}

# precision_verdict: the job's summary.json on stdin; its "runtime" list names the precision.
precision_verdict() {
  local summary runtime
  summary="$(cat)"
  # summary.json is indented JSON: join its lines, then keep the list, without the padding.
  runtime="$(tr -d '\n' <<<"$summary" | grep -o '"runtime": *\[[^]]*\]' |
    sed 's/^"runtime": *//; s/\[ */[/; s/ *\]$/]/; s/", *"/", "/g')"
  if [ -z "$summary" ]; then
    report FAIL bf16 "no summary.json in the job's results (did the job end DONE?)"
  elif grep -q 'bf16' <<<"$runtime"; then
    report PASS bf16 "workers ran $runtime"
  elif grep -q 'int8' <<<"$runtime"; then
    report PASS bf16 "workers ran $runtime: no bf16 on these CPUs, RetinaFace's int8 network instead"
  elif grep -q 'openvino' <<<"$runtime"; then
    report FAIL bf16 "workers ran $runtime: fp32 costs about 1.6x per photo (docs/scale.md): neither bf16 nor the int8 network ran"
  else
    report SKIP bf16 "the job's detector does not run on OpenVINO (${runtime:-no runtime recorded})"
  fi
}

# code_verdict DEPLOYED: the devhost's /opt/dataproc-faces/current.env on stdin, DEPLOYED the
# staging bucket's artifacts/current.env (which artefacts the last `up` uploaded).
code_verdict() {
  local running package
  running="$(cat)"
  package="$(sed -n 's/^DATAPROC_FACES_JOB_PACKAGE=//p' <<<"$1")"
  if [ -z "$1" ]; then
    report FAIL code "cannot read artifacts/current.env in the staging bucket"
  elif [ -z "$running" ]; then
    report FAIL code "cannot read /opt/dataproc-faces/current.env on the devhost (ssh through IAP)"
  elif [ "$running" = "$1" ]; then
    report PASS code "the devhost runs $package"
  else
    report FAIL code "the devhost does not run $package yet: its sync timer runs every 2 minutes (or: sudo systemctl start dataproc-faces-sync on it)"
  fi
}

main() {
  local stack_args=() preview rc changes project region zone cluster devhost router job_id state
  local runner
  if [ -n "${1:-}" ]; then stack_args=(--stack "$1"); fi
  output() { pulumi stack output "${stack_args[@]}" "$1" 2>/dev/null; }

  project="$(output project)" || { echo "error: no stack outputs: run pulumi up first" >&2; return 2; }
  region="$(output region)"
  zone="$(output zone)"
  cluster="$(output cluster_name)"
  # serverless: no cluster (cluster_name is null), the job is a batch; cluster or both: a cluster.
  runner="$(output runner)" || runner=cluster
  devhost="$(output devhost_name)"
  router="$(output nat_router)"
  job_id="$(output job_id)"
  state="$(output job_state)"
  local results staging
  results="$(output job_results_uri)"
  staging="$(output staging_bucket_url)"

  preview="$(pulumi preview "${stack_args[@]}" --refresh --diff --expect-no-changes --non-interactive 2>&1)"
  rc=$?
  changes="$(preview_changes <<<"$preview" | paste -sd ';' - | sed 's/;/; /g')"
  if [ "$rc" -eq 0 ]; then
    report PASS preview "no changes after refresh"
  else
    report FAIL preview "${changes:-pulumi preview failed (exit $rc): $(tail -n1 <<<"$preview")}"
  fi

  if [ -z "$job_id" ] || [ "$job_id" = null ] || [[ "$state" == NOT_SUBMITTED* ]]; then
    job_verdict "${state:-NOT_SUBMITTED}" ""
  elif [ "$runner" = serverless ]; then
    local described
    described="$(gcloud dataproc batches describe "$job_id" --project "$project" \
      --region "$region" --format 'value(state,stateMessage)' 2>&1)" || described=""
    job_verdict "$(cut -f1 <<<"$described")" "$(cut -sf2 <<<"$described")"
  else
    local described
    described="$(gcloud dataproc jobs describe "$job_id" --project "$project" --region "$region" \
      --format 'value(status.state,status.details)' 2>&1)" || described=""
    job_verdict "$(cut -f1 <<<"$described")" "$(cut -sf2 <<<"$described")"
  fi

  # Each verdict reads a variable, not a pipe: a pipe's last part would run in a subshell and
  # its FAIL would not reach the exit status.
  local uuid="" bucket="" cluster_state="" info log="" vms=("$devhost")
  if [ "$runner" = serverless ]; then
    report SKIP init "no cluster (runner serverless): batches run in the batch image, no init action"
  else
    vms+=("$cluster-m")
    info="$(gcloud dataproc clusters describe "$cluster" --project "$project" --region "$region" \
      --format 'value(clusterUuid,config.configBucket,status.state)' 2>/dev/null)" || info=""
    IFS=$'\t' read -r uuid bucket cluster_state <<<"$info"
    if [ -n "$uuid" ]; then
      log="$(gcloud storage cat "gs://$bucket/google-cloud-dataproc-metainfo/$uuid/$cluster-m/dataproc-initialization-script-0_output" 2>/dev/null)"
    fi
    init_verdict "$cluster_state" <<<"$log"
  fi

  log="$(gcloud compute instances get-serial-port-output "$devhost" --zone "$zone" \
    --project "$project" 2>/dev/null)"
  devhost_verdict <<<"$log"

  log="$(gcloud compute routers get-nat-mapping-info "$router" --region "$region" \
    --project "$project" \
    --format 'value(instanceName,interfaceNatMappings[0].natIpPortRanges[0])' 2>/dev/null)"
  nat_verdict "${vms[@]}" <<<"$log"

  if [ -z "$job_id" ] || [ "$job_id" = null ] || [[ "$state" == NOT_SUBMITTED* ]]; then
    report SKIP bf16 "no job in this stack to read the workers' runtime from"
  else
    log="$(gcloud storage cat "$results/summary.json" 2>/dev/null)"
    precision_verdict <<<"$log"
  fi

  local deployed
  deployed="$(gcloud storage cat "$staging/artifacts/current.env" 2>/dev/null)"
  log="$(gcloud compute ssh "$devhost" --zone "$zone" --project "$project" --tunnel-through-iap \
    --command 'cat /opt/dataproc-faces/current.env' 2>/dev/null)"
  code_verdict "$deployed" <<<"$log"

  return "$FAILED"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
