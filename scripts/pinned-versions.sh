# shellcheck shell=bash
# shellcheck disable=SC2154 # root and die come from the script that sources this file
# Sourced by scripts/pulumi-toolchain.sh and scripts/install-plugins.sh: the versions the project pins, read one
# way. Needs `root` (the repository) and `die` from the caller; sets cli_version (@pulumi/pulumi, exact).

node_json() { # node_json FILE JS-EXPRESSION-ON-j
  "$root/scripts/node.sh" node -e '
    const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const v = (function () { return eval(process.argv[2]); })();
    if (v === undefined || v === null) process.exit(3);
    process.stdout.write(String(v));' "$1" "$2"
}

# The plugin version node_modules/@pulumi/NAME declares (X.Y.Z, without a leading v).
provider_version() { # provider_version NAME
  local pkg="$root/node_modules/@pulumi/$1/package.json" got
  [ -f "$pkg" ] || die "$pkg is missing: run npm ci first"
  got=$(node_json "$pkg" '(j.pulumi && j.pulumi.version) || j.version') ||
    die "cannot read the provider version from $pkg"
  got=${got#v}
  [[ $got =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$pkg declares the provider version '$got', not X.Y.Z"
  printf '%s' "$got"
}

cli_version=$(node_json "$root/package.json" 'j.dependencies["@pulumi/pulumi"]') ||
  die "package.json does not pin @pulumi/pulumi"
[[ $cli_version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "@pulumi/pulumi must be pinned exactly (found '$cli_version')"
