// The one naming rule for everything that reaches dockerd or systemd as an argument (stack, network and
// service names): no shell metacharacters, no leading dash, at most 63 characters. config.ts, the CLI and the
// host scripts (host/lib.sh's sp_name_re, kept equal by a unit test) all check this one.
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters";
