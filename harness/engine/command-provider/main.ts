// Entry point of the STAND-IN command provider (see provider.ts): serves it to the Pulumi engine over gRPC.
// Launched by bin/pulumi-resource-command, which the engine finds on PATH.
import * as pulumi from "@pulumi/pulumi";
import { provider } from "./provider";

void pulumi.provider.main(provider, process.argv.slice(2));
