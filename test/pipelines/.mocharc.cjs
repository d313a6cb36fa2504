// The mocha config of the pipelines tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/pipelines/**/*.test.ts"],
    timeout: 900000,
    slow: 60000,
});
