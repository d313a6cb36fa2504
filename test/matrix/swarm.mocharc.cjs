// The mocha config of the engine matrix's swarm-tier cases (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: [
        "test/swarm/leak.test.ts",
        "test/swarm/rolling-moves.test.ts",
        "test/swarm/spec-fields.test.ts",
        "test/swarm/ips-in-use.test.ts",
    ],
    require: ["test/swarm/hooks.ts"],
    timeout: 300000,
    slow: 30000,
});
