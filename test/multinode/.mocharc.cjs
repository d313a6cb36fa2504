// The mocha config of the multinode tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/multinode/**/*.test.ts"],
    timeout: 900000,
    slow: 60000,
});
