// The mocha config of the swarm tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/swarm/**/*.test.ts"],
    require: ["test/swarm/hooks.ts"],
    timeout: 300000,
    slow: 30000,
});
