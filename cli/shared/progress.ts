// Progress goes to stderr so that stdout stays one parseable document (`--json`) or one report.
export interface Progress {
    step(message: string): void;
}

export function stderrProgress(enabled: boolean, command: string): Progress {
    const started = Date.now();
    return {
        step(message: string): void {
            if (!enabled) {
                return;
            }
            const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
            process.stderr.write(`swarm-proxy ${command} [${seconds}s] ${message}\n`);
        },
    };
}

export const silentProgress: Progress = { step: () => undefined };
