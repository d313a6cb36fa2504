// The mocha config of the tools tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/tools/**/*.test.ts"],
    timeout: 30000,
});
