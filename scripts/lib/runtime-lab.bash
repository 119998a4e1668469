# A lab of real parts on loopback for the workload runtime, sourced by bench/run-runtime-bench and
# scripts/demo-runtime: a docker-registry, images built offline from busybox-static, cloudletd and
# cloudlet-agent --runtime podman, each storage root private to the lab. lab_cleanup stops
# everything it started by its own pid, resets its storage roots and removes the agent's host guards.
#
#   source scripts/lib/runtime-lab.bash
#   lab_init build/bin; trap lab_cleanup EXIT
#   lab_start_registry; lab_build_images 40 10; lab_start_cloudletd; lab_start_agent
#   "$bin/cloudlet" --registry "$lab_url" --token "$lab_token" place --app "$lab_app_json" --wait

lab_pids=()

lab_init() {
  bin=$1
  lab_work=$(mktemp -d /tmp/cloudlet-lab.XXXXXX)
}

# podman on one of the lab's storage roots, as the agent runs it (agent/podman_runtime.h).
pod() {
  local root=$1; shift
  mkdir -p "$lab_work/$root/run/libpod"
  [[ -f $lab_work/$root/run/containers.conf ]] ||
    printf '[engine]\nlock_type = "file"\n[network]\nnetwork_config_dir = "%s"\n' "$lab_work/$root/run/net.d" \
      > "$lab_work/$root/run/containers.conf"
  CONTAINERS_CONF=$lab_work/$root/run/containers.conf podman --root "$lab_work/$root/storage" \
    --runroot "$lab_work/$root/run" --tmpdir "$lab_work/$root/run/libpod" --runtime runc \
    --cgroup-manager cgroupfs --events-backend file "$@"
}

lab_cleanup() {
  local p root
  for p in "${lab_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${lab_pids[@]}"; do wait "$p" 2>/dev/null || true; done  # not a bare wait: it would wait for tee
  for root in builder agent; do
    [[ -d $lab_work/$root ]] && pod "$root" system reset --force >/dev/null 2>&1 || true
  done
  # The firewall rules that keep the lab's tenant networks off the host.
  [[ -d $lab_work/agent ]] && "$bin/cloudlet-agent" --id cl-lab --remove-host-guards >/dev/null 2>&1 || true
  rm -rf "$lab_work"
}

# A TCP port nothing listens on now (ss from iproute2).
lab_free_port() {
  local p
  while true; do
    p=$((20000 + RANDOM % 40000))
    [[ -z $(ss -Hltn "sport = :$p") ]] && { echo "$p"; return; }
  done
}
lab_wait_http() { for _ in $(seq 600); do curl -sf -o /dev/null "$@" && return 0; sleep 0.02; done; return 1; }

lab_start_registry() {
  local port
  port=$(lab_free_port)
  mkdir -p "$lab_work/registry"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$lab_work/registry" "$port" > "$lab_work/registry.yml"
  docker-registry serve "$lab_work/registry.yml" > "$lab_work/registry.log" 2>&1 &
  lab_pids+=($!)
  lab_registry=127.0.0.1:$port
  lab_wait_http "http://$lab_registry/v2/"
}

# A base (busybox and BASE_PAD_MIB of incompressible padding) and an app on it (APP_PAD_MIB of
# content served by busybox httpd on 8080), pushed to the lab's registry and pinned by digest:
# $lab_base, $lab_app, their sizes in MiB $lab_base_mib, $lab_app_mib, and $lab_app_json.
lab_build_images() {
  local base_pad=$1 app_pad=$2 w=$lab_work
  mkdir -p "$w/rootfs/bin" "$w/rootfs/usr/lib" "$w/app/www"
  cp /bin/busybox "$w/rootfs/bin/busybox"
  for a in sh httpd cat sleep; do ln -sf busybox "$w/rootfs/bin/$a"; done
  head -c $((base_pad << 20)) /dev/urandom > "$w/rootfs/usr/lib/padding"
  tar -C "$w/rootfs" -cf "$w/base.tar" .
  pod builder import --quiet "$w/base.tar" "$lab_registry/base:1" >/dev/null
  pod builder push --quiet --tls-verify=false --digestfile "$w/base.digest" "$lab_registry/base:1"
  lab_base="$lab_registry/base@$(cat "$w/base.digest")"
  echo "hello from the app" > "$w/app/www/index.html"
  head -c $((app_pad << 20)) /dev/urandom > "$w/app/www/content.bin"
  printf 'FROM %s\nCOPY www /www\nCMD ["/bin/httpd","-f","-p","8080","-h","/www"]\n' "$lab_base" > "$w/app/Containerfile"
  pod builder build --quiet --tls-verify=false --tag "$lab_registry/app:1" "$w/app" >/dev/null
  pod builder push --quiet --tls-verify=false --digestfile "$w/app.digest" "$lab_registry/app:1"
  lab_app="$lab_registry/app@$(cat "$w/app.digest")"
  lab_base_mib=$(pod builder image inspect --format '{{.Size}}' "$lab_registry/base:1" | awk '{printf "%.1f", $1/1048576}')
  lab_app_mib=$(pod builder image inspect --format '{{.Size}}' "$lab_registry/app:1" | awk '{printf "%.1f", $1/1048576}')
  lab_app_json=$w/app.json
  cat > "$lab_app_json" <<JSON
{"name": "hello", "base_vm": "$(cat "$w/base.digest")", "base_vm_mb": $lab_base_mib, "overlay_mb": $app_pad,
 "cpu_millis": 1000, "mem_mb": 64, "isolation": "container", "image": "$lab_app", "base_image": "$lab_base",
 "port": 8080, "health": {"http": "/"}, "ready_timeout_s": 60}
JSON
}

# cloudletd on a free loopback port: $lab_url, and its operator token $lab_token.
lab_start_cloudletd() {
  local port
  port=$(lab_free_port)
  lab_token="lab-operator-token-$(date +%s%N)"
  CLOUDLET_BOOTSTRAP_TOKEN=$lab_token "$bin/cloudletd" --listen "127.0.0.1:$port" --db "$lab_work/c.db" \
    --log-level warn > "$lab_work/cloudletd.log" 2>&1 &
  lab_pids+=($!)
  lab_url="http://127.0.0.1:$port"
  lab_wait_http "$lab_url/healthz"
}

# cloudlet-agent --runtime podman for cloudlet cl-lab, registered with the lab's cloudletd with an
# agent token of its own. It sees a steady host (a /proc of fixed counters: 16 cores, 8% busy), so
# that what else loads this machine (the benchmark's own tools) never makes the engine refuse a
# placement. Its log: $lab_work/agent.log. Arguments, if any, replace the runtime's flags (e.g.
# `--isolation vm --runtime vm --runtime-root DIR --vm-accel tcg`).
lab_start_agent() {
  local port token runtime=("$@")
  ((${#runtime[@]})) || runtime=(--isolation container --runtime podman --runtime-root "$lab_work/agent"
                                 --insecure-registry "$lab_registry")
  port=$(lab_free_port)
  mkdir -p "$lab_work/proc"
  printf 'cpu  100 0 100 2300 0 0 0 0 0 0\ncpu0 100 0 100 2300 0 0 0 0 0 0\n' > "$lab_work/proc/stat"
  printf 'MemTotal:        8388608 kB\nMemAvailable:    6291456 kB\n' > "$lab_work/proc/meminfo"
  token=$(curl -sf -X POST -H "Authorization: Bearer $lab_token" "$lab_url/v1/tokens" \
    -d '{"role":"agent","cloudlet":"cl-lab"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  "$bin/cloudlet-agent" --id cl-lab --name lab --no-mdns --listen "127.0.0.1:$port" \
    --endpoint "http://127.0.0.1:$port" --geo 40.44,-79.94 --cpu-millis 16000 --proc-dir "$lab_work/proc" \
    --state-dir "$lab_work/state" --registry "$lab_url" --token "$token" "${runtime[@]}" > "$lab_work/agent.log" 2>&1 &
  lab_pids+=($!)
  lab_wait_http -H "Authorization: Bearer $lab_token" "$lab_url/v1/cloudlets/cl-lab"
}
