// The mocha config of the matrix tier (test/mocharc.cjs: what every tier shares).
module.exports = require("../mocharc.cjs")({
    spec: ["test/matrix/**/*.test.ts"],
    timeout: 900000,
    slow: 30000,
});
