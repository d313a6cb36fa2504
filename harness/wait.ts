// The one poll-until-ready of the tests and benchmarks (the CLI has its own, cli/leak-probe/probe-run.ts: product
// code never imports the harness).

/**
 * Polls `check` every 250 ms until it returns something other than undefined or false, and resolves to that;
 * after `timeoutMs` fails naming what it waited for.
 */
export async function waitFor<T>(
    what: string,
    timeoutMs: number,
    check: () => Promise<T | false | undefined>,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await check();
        if (v !== undefined && v !== false) return v;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 250));
    }
}
