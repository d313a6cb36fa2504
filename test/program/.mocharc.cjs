// The mocha config of the program tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/program/**/*.test.ts"],
    timeout: 20000,
});
