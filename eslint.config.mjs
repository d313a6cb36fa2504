// The linter: ESLint's and typescript-eslint's recommended rules over every TypeScript and JavaScript file.
// Layout is Prettier's (.prettierrc.json); `npm run lint` runs both.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", ".tools/", ".cache/", ".pulumi-state/", "bin/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        languageOptions: {
            globals: {
                require: "readonly",
                module: "writable",
                process: "readonly",
                __dirname: "readonly",
                __filename: "readonly",
                console: "readonly",
            },
        },
        rules: {
            // Unused names are tsc's (noUnusedLocals, noUnusedParameters), with its own conventions.
            "@typescript-eslint/no-unused-vars": "off",
        },
    },
    {
        // The CLI's launcher and the tiers' mocha configs are plain CommonJS, run by node before anything is compiled.
        files: ["cli/bin.js", "test/**/*.cjs"],
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
);
