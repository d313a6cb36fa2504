// The mocha config of the unit tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/unit/**/*.test.ts"],
    timeout: 20000,
});
