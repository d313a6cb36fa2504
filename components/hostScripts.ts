import * as pulumi from "@pulumi/pulumi";
import { HOST_DIR, type HostScript, installer, type ShippedFile, type Target, targetCommand } from "../src/hostCommand";
import { shellQuote } from "../src/ssh";

export interface HostScriptsArgs {
    target: Target;
    /** Compose files of the project the stacks deploy over SSH, shipped beside the scripts. */
    compose?: ShippedFile[];
    /** Optional scripts (OPTIONAL_SCRIPTS) this configuration runs. */
    optional?: HostScript[];
}

/**
 * The host scripts, installed in the target's scripts directory, with the compose files shipped over SSH. The only
 * resource whose inputs hold the scripts' text or a compose file's: a changed script updates it alone, and every
 * other resource (which depends on it) runs the newly installed scripts from the next step on. It has no delete: a
 * teardown that runs later, in this run or in a later one, always finds the scripts on the host.
 */
export class HostScripts extends pulumi.ComponentResource {
    public readonly resource: pulumi.CustomResource;
    /** The digest of the installed bundle, as the installer printed it. */
    public readonly digest: pulumi.Output<string>;

    constructor(name: string, args: HostScriptsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-proxy:index:HostScripts", name, {}, opts);
        const cmd = targetCommand(
            `${name}-install`,
            {
                create: `bash -s -- ${shellQuote(args.target.scriptsDir)}`,
                stdin: installer(HOST_DIR, args.compose, args.optional),
            },
            args.target,
            { parent: this },
        );
        this.resource = cmd;
        this.digest = cmd.stdout.apply((s) => s.trim());
        this.registerOutputs({ digest: this.digest });
    }
}
