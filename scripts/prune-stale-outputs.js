#!/usr/bin/env node
/**
 * Usage: node prune-stale-outputs.js [tsconfig.json]
 *
 * Deletes compiled files (.js, .d.ts, maps) from a TypeScript project's output directories that no
 * current source of the project produces: the outputs of deleted or renamed sources, which `tsc -b`
 * never removes and `npm pack` would otherwise ship (e.g. dist/lib/scaling/index.js after
 * lib/scaling/index.ts was removed). Run by every package's `prepack`, after `tsc -b`.
 *
 * Only orphans are touched: every current output stays in place, so this is safe while tests or
 * other processes use the build (unlike `rm -rf dist && tsc -b`). It prunes only the output folders
 * of the project's `include` directories (for the root package dist/lib, dist/imports and
 * dist/examples, never dist/bench or dist/manifests, which other tools write).
 *
 * Serves every package: their prepack scripts call it by relative path.
 */
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const COMPILED = /\.(js|mjs|cjs|d\.ts|d\.mts|d\.cts|js\.map|mjs\.map|cjs\.map|d\.ts\.map)$/;

const configPath = path.resolve(process.argv[2] ?? 'tsconfig.json');
const parsed = ts.getParsedCommandLineOfConfigFile(
  configPath,
  {},
  {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  },
);
if (!parsed) throw new Error(`cannot read ${configPath}`);
const { outDir } = parsed.options;
if (!outDir) {
  process.exit(0);
}
const configDir = path.dirname(configPath);
const rootDir = path.resolve(configDir, parsed.options.rootDir ?? '.');

const expected = new Set();
for (const file of parsed.fileNames) {
  for (const output of ts.getOutputFileNames(parsed, file, !ts.sys.useCaseSensitiveFileNames)) {
    expected.add(path.resolve(output));
  }
}

// The output folder of each `include` directory (the part of the pattern before any wildcard).
const pruneRoots = new Set();
for (const pattern of parsed.raw?.include ?? []) {
  const staticPart = pattern.split(/[*?[{]/)[0].replace(/\/+$/, '');
  const relative = path.relative(rootDir, path.resolve(configDir, staticPart));
  if (relative.startsWith('..') || path.isAbsolute(relative)) continue;
  pruneRoots.add(path.resolve(outDir, relative));
}

const removed = [];
// Tolerates files and folders vanishing meanwhile: two packs (e.g. parallel test suites) may prune
// the same tree at once.
function ignoreGone(action) {
  try {
    return action();
  } catch (error) {
    if (error.code === 'ENOENT' || error.code === 'ENOTEMPTY') return undefined;
    throw error;
  }
}
function prune(dir) {
  for (const entry of ignoreGone(() => fs.readdirSync(dir, { withFileTypes: true })) ?? []) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      prune(full);
      if (ignoreGone(() => fs.readdirSync(full))?.length === 0) ignoreGone(() => fs.rmdirSync(full));
    } else if (COMPILED.test(entry.name) && !expected.has(full)) {
      fs.rmSync(full, { force: true });
      removed.push(path.relative(process.cwd(), full));
    }
  }
}
for (const root of pruneRoots) prune(root);
if (removed.length > 0) {
  process.stdout.write(`pruned ${removed.length} stale output(s): ${removed.join(', ')}\n`);
}
