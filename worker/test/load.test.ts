/**
 * Loading the handler named by AGENT_HANDLER, in a real Node process (the built worker/dist/load.js;
 * jest's own module system would stand in for Node's): every kind of module a handler is written
 * as, and a module that fails to load runs its code once only and is reported.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const LOAD = path.join(__dirname, '..', 'dist', 'load.js');

/** Loads `file` as the worker does and calls the handler with 21; what happened, as JSON. */
function load(file: string): { output?: unknown; error?: string; loads: number } {
  const script = `
    const { loadHandler } = require(${JSON.stringify(LOAD)});
    globalThis.loads = 0;
    loadHandler(process.argv[1]).then(
      async (handler) => ({ output: await handler(21) }),
      (error) => ({ error: error.message }),
    ).then((r) => process.stdout.write(JSON.stringify({ ...r, loads: globalThis.loads })));`;
  return JSON.parse(
    execFileSync(process.execPath, ['-e', script, file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'load-test-'));
  mkdirSync(path.join(dir, 'esm'));
  writeFileSync(path.join(dir, 'esm', 'package.json'), '{"type":"module"}');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeModule(name: string, code: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `globalThis.loads += 1;\n${code}\n`);
  return file;
}

test.each([
  ['module.exports = fn', 'cjs.js', 'module.exports = async (x) => x * 2;'],
  ['exports.default = fn (compiled TypeScript)', 'ts.js', 'exports.default = async (x) => x * 2;'],
  ['a .cjs file', 'plain.cjs', 'module.exports = async (x) => x * 2;'],
])('CommonJS, %s', (_, name, code) => {
  expect(load(writeModule(name, code))).toEqual({ output: 42, loads: 1 });
});

test.each([
  ['a .mjs file', 'h.mjs', 'export default async (x) => x * 2;'],
  ['a .js file in a "type": "module" package', 'esm/h.js', 'export default async (x) => x * 2;'],
  [
    'top-level await',
    'esm/tla.js',
    'await new Promise((r) => setTimeout(r, 1));\nexport default async (x) => x * 2;',
  ],
])('ES module, %s', (_, name, code) => {
  expect(load(writeModule(name, code))).toMatchObject({ output: 42, loads: 1 });
});

test('an ES module with top-level await in a package without "type" (Node detects the syntax)', () => {
  expect(load(writeModule('detected.js', 'await 0;\nexport default async (x) => x * 2;'))).toEqual({
    output: 42,
    loads: 1,
  });
});

test('a symbolic link to an ES module of a "type": "module" package, outside it', () => {
  const target = writeModule('esm/linked.js', 'await 0;\nexport default async (x) => x * 2;');
  const link = path.join(dir, 'link-to-esm.js');
  symlinkSync(target, link);
  expect(load(link)).toEqual({ output: 42, loads: 1 });
});

test('a module whose code throws while loading runs once and is reported', () => {
  const result = load(writeModule('throws.js', "throw new Error('no API key at load');"));
  expect(result.error).toMatch(/the module failed to load: .*no API key at load/);
  expect(result.loads).toBe(1);
});

test('a CommonJS module requiring an ES module with top-level await runs once and is reported', () => {
  writeModule('esm/dep.js', 'await 0;\nexport default 1;');
  const result = load(
    writeModule('needs-esm.js', "require('./esm/dep.js');\nmodule.exports = async (x) => x;"),
  );
  expect(result.error).toMatch(/the module failed to load/);
  // Its own code ran once, its dependency's never completed.
  expect(result.loads).toBe(1);
});

test('a file that does not parse is reported, its code never run', () => {
  const result = load(writeModule('broken.js', 'const x = ;'));
  expect(result.error).toMatch(
    /the module failed to load: .*SyntaxError|the module failed to load: .*Unexpected/,
  );
  expect(result.loads).toBe(0);
});
