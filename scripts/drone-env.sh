# shellcheck shell=bash
# Sourced by every exec step of .drone.yml (`. scripts/drone-env.sh`), in the fresh clone Drone's exec runner
# makes for each build. The runner hands a step only PATH, USER, the DRONE_* variables, the step's own
# `environment:` and what the runner's config adds (DRONE_RUNNER_ENVIRON on a server; `exec --environ`); HOME
# is a temporary folder that vanishes after the build. So this finds the host's tools instead of a developer's
# checkout, and says in the build log which ones it uses and when it has to build them:
#
#   SWARM_PROXY_STACK         the Pulumi stack (default prod; Pulumi.<stack>.yaml in the clone)
#   SWARM_PROXY_STACK_CONFIG  a stack file kept on the host: copied into the clone as Pulumi.<stack>.yaml
#   SWARM_PROXY_REPORT_DIR    where the drift reports go (default: the workspace, which the runner deletes)
#   SWARM_PROXY_DRIFT_ARGS    extra drift flags for this host (e.g. --log-file FILE where dockerd logs to a file)
#   PULUMI_HOME               the host's Pulumi home: its plugins/ holds the installed providers
#   node >= 22, pulumi        used from PATH when there at the versions the project pins, else installed
#                             into the clone's .tools/ (slow: the build log says so)
export SWARM_PROXY_STACK="${SWARM_PROXY_STACK:-prod}"
export PULUMI_SKIP_UPDATE_CHECK=true
export SWARM_PROXY_REPORT_DIR="${SWARM_PROXY_REPORT_DIR:-$PWD}"

drone_env_log() { echo "drone-env: $*"; }

if [ -n "${SWARM_PROXY_STACK_CONFIG:-}" ]; then
  cp "$SWARM_PROXY_STACK_CONFIG" "Pulumi.$SWARM_PROXY_STACK.yaml"
  drone_env_log "stack $SWARM_PROXY_STACK: config from $SWARM_PROXY_STACK_CONFIG (SWARM_PROXY_STACK_CONFIG)"
else
  drone_env_log "stack $SWARM_PROXY_STACK: config from the repository's Pulumi.$SWARM_PROXY_STACK.yaml"
fi

if [ "$(node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0)" -ge 22 ]; then
  drone_env_log "node: using the host's $(command -v node) ($(node --version))"
else
  drone_env_log "node: no Node >= 22 on the host's PATH: scripts/node.sh installs one into the clone's .tools/ on every build (put Node 22 on the runner's PATH to avoid it)"
fi

drone_env_pulumi=$(sed -n 's/^ *"@pulumi\/pulumi": *"\([0-9.]*\)".*/\1/p' package.json)
if [ "$(pulumi version 2>/dev/null)" = "v$drone_env_pulumi" ]; then
  drone_env_log "pulumi: using the host's $(command -v pulumi) (v$drone_env_pulumi)"
else
  drone_env_log "pulumi: the host has no pulumi v$drone_env_pulumi on PATH: BUILDING it into the clone's .tools/ with scripts/pulumi-toolchain.sh (minutes, on every build; install it on the runner's PATH, cli/README.md \"CI pipelines\")"
  PATH="$(bash scripts/pulumi-toolchain.sh):$PATH"
  export PATH
fi

drone_env_plugins="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
if [ -n "${PULUMI_HOME:-}" ] && [ -d "$drone_env_plugins" ]; then
  drone_env_log "pulumi plugins: using the host's $drone_env_plugins (PULUMI_HOME)"
else
  drone_env_log "pulumi plugins: PULUMI_HOME is not set (HOME is the build's temporary folder): INSTALLING them (scripts/install-plugins.sh; set PULUMI_HOME in the runner's environment to the host's Pulumi home)"
  bash scripts/install-plugins.sh --bin "$(dirname "$(command -v pulumi)")"
fi
unset drone_env_pulumi drone_env_plugins
