// A local HTTP server standing in for traefik's entry point in the unit tier: each known Host gets its stack's
// answer, any other Host traefik's own 404.
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface RouteServer {
    url: string;
    close: () => void;
}

export async function routeServer(answers: Record<string, string>): Promise<RouteServer> {
    const server = http.createServer((req, res) => {
        const answer = answers[req.headers.host ?? ""];
        if (answer !== undefined) {
            res.end(answer);
        } else {
            res.statusCode = 404;
            res.end("404 page not found\n");
        }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
        close: () => server.close(),
    };
}
