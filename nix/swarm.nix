# Creates the shared `proxy` overlay at boot, the way swarm-proxy's Pulumi program manages it: same subnet,
# same label. It creates the network only when it is absent and fails loudly when an existing one differs,
# so that a rebuild never recreates (or silently keeps) a network the program does not expect.
{ config, lib, pkgs, ... }:
let
  proxyNetwork = "proxy";
  proxySubnet = "10.10.0.0/16";
  docker = "${config.virtualisation.docker.package}/bin/docker";
in
{
  # live-restore is incompatible with swarm mode (and defaults to true on NixOS).
  virtualisation.docker.liveRestore = false;
  # autoPrune runs `docker system prune`, whose network prune removes an idle `proxy`.
  virtualisation.docker.autoPrune.enable = lib.mkForce false;

  systemd.services.swarm-init = {
    description = "Initialise the swarm and its shared proxy network";
    after = [ "docker.service" ];
    requires = [ "docker.service" ];
    wantedBy = [ "multi-user.target" ];
    serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
    script = ''
      set -euo pipefail
      if [ "$(${docker} info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
        ${docker} swarm init
      fi
      if current=$(${docker} network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' ${proxyNetwork} 2>/dev/null); then
        if [ "$current" != "${proxySubnet} " ]; then
          echo "network ${proxyNetwork} exists with subnet '$current', expected ${proxySubnet}: run the swarm-proxy maintenance" >&2
          exit 1
        fi
      else
        ${docker} network create --driver overlay --attachable --label owner=swarm-proxy --subnet ${proxySubnet} ${proxyNetwork}
      fi
    '';
  };
}
