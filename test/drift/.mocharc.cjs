// The mocha config of the drift tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/drift/**/*.test.ts"],
    timeout: 900000,
    slow: 60000,
});
