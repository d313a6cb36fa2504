// The mocha config of the engine tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/engine/**/*.test.ts"],
    timeout: 600000,
    slow: 30000,
});
