# Source me:  . Tests/Fixtures/ctenv.sh [DIR]
# An isolated podman/buildah/skopeo environment in DIR (default: a new temp dir): private HOME,
# storage, registries.conf (127.0.0.1 and localhost are insecure), containers.conf tuned for
# sandboxes (runc, host netns, capped ulimits) and an auth file. Nothing global is touched.
T=${1:-$(mktemp -d /tmp/slipway-ct.XXXXXX)}
mkdir -p "$T"/home "$T"/xdg "$T"/storage "$T"/run "$T"/tmp "$T"/networks
chmod 700 "$T/xdg"
cat > "$T/storage.conf" <<EOT
[storage]
driver = "${CT_DRIVER:-vfs}"
graphroot = "$T/storage"
runroot = "$T/run"
EOT
cat > "$T/registries.conf" <<EOT
unqualified-search-registries = []
short-name-mode = "disabled"
[[registry]]
location = "127.0.0.1"
insecure = true
[[registry]]
location = "localhost"
insecure = true
EOT
cat > "$T/containers.conf" <<EOT
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "host"
[engine]
runtime = "runc"
events_logger = "file"
events_logfile_path = "$T/run/events.log"
cgroup_manager = "cgroupfs"
[network]
network_config_dir = "$T/networks"
EOT
# skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF and reads $HOME/.config/containers/registries.conf.
mkdir -p "$T/home/.config/containers" && cp "$T/registries.conf" "$T/home/.config/containers/registries.conf"
[ -f "$T/auth.json" ] || echo '{"auths":{}}' > "$T/auth.json"
export CT="$T" HOME="$T/home" XDG_RUNTIME_DIR="$T/xdg" TMPDIR="$T/tmp" \
  CONTAINERS_STORAGE_CONF="$T/storage.conf" CONTAINERS_REGISTRIES_CONF="$T/registries.conf" \
  CONTAINERS_CONF="$T/containers.conf" REGISTRY_AUTH_FILE="$T/auth.json"
