# The reference host's module as it is before the maintenance: `proxy` created without --subnet (Docker's
# default /24). The adoption run points rebuild.nixModule here; the change run points it at nix/swarm.nix.
{ config, ... }:
let
  docker = "${config.virtualisation.docker.package}/bin/docker";
in
{
  systemd.services.swarm-init = {
    after = [ "docker.service" ];
    requires = [ "docker.service" ];
    wantedBy = [ "multi-user.target" ];
    serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
    script = ''
      ${docker} network inspect proxy >/dev/null 2>&1 || ${docker} network create --driver overlay --attachable proxy
    '';
  };
}
