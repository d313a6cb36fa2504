# shellcheck shell=bash
# Sourced by .ci/run and scripts/demo.sh from the checkout's root: the real Pulumi plugins come from a directory
# of plugin archives when the machine has one beside the checkout (../shared/pulumi-plugins) and
# SWARM_PROXY_PLUGIN_MIRROR names no other; scripts/install-plugins.sh (run by the toolchain script) installs them
# from it. Under CI (CI set, not empty or false, as harness/ci.ts takes it) every tier then refuses the stand-ins.
if [ -z "${SWARM_PROXY_PLUGIN_MIRROR:-}" ] && [ -d ../shared/pulumi-plugins ]; then
  SWARM_PROXY_PLUGIN_MIRROR="$(pwd)/../shared/pulumi-plugins"
fi
if [ -n "${SWARM_PROXY_PLUGIN_MIRROR:-}" ]; then
  export SWARM_PROXY_PLUGIN_MIRROR
  if [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; then export SWARM_PROXY_REQUIRE_REAL_PLUGINS=1; fi
fi
