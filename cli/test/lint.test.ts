/** `agent-fleet lint`: grouped and JSON output, exit codes, files and standard input. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { brokenFleet, CLEAN_FLEET, TUTORIAL_MISTAKES } from '../../validate/test/fixtures';
import { runCli } from '../src/program';
import { Capture, cli } from './support/io';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'af-lint-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeYaml(name: string, objects: unknown[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  return file;
}

/** Runs the CLI with `text` on standard input. */
async function withStdin(argv: string[], text: string, tty = false) {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = Object.assign(Readable.from([Buffer.from(text)]), tty ? { isTTY: true } : {});
  const code = await runCli(argv, { stdin, stdout, stderr, env: {}, stderrIsTTY: false });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

test('a clean fleet: exit 0, "no findings"', async () => {
  const run = await cli(['lint', CLEAN_FLEET]);
  expect(run).toEqual({ code: 0, stdout: 'no findings\n', stderr: '' });
});

test('the tutorial mistakes: exit 1, findings grouped by object with their source, rule, field and fix', async () => {
  const run = await cli(['lint', TUTORIAL_MISTAKES]);
  expect(run.code).toBe(1);
  expect(run.stdout).toContain(`PodDisruptionBudget summarizers/summarizers (${TUTORIAL_MISTAKES}#4)\n`);
  expect(run.stdout).toMatch(
    /\n {2}error {3}AF111 {2}spec\.maxUnavailable = "20%" selects pods of Job summarize-batch.*\n {17}fix: use an integer minAvailable/,
  );
  // One header per object, each finding under its object.
  const headers = run.stdout.split('\n').filter((line) => /^\S/.test(line));
  expect(headers.slice(0, -1)).toEqual([
    expect.stringMatching(/^Job summarizers\/summarize-batch /),
    expect.stringMatching(/^ScaledJob summarizers\/summarize-stream /),
    expect.stringMatching(/^PodDisruptionBudget /),
    expect.stringMatching(/^LimitRange /),
    expect.stringMatching(/^NetworkPolicy /),
  ]);
  expect(headers.at(-1)).toMatch(/^\d+ error\(s\), 3 warning\(s\) in 5 object\(s\)$/);
});

test('--format json: findings with rule, severity, object, field, message, fix and source', async () => {
  const run = await cli(['lint', '--format', 'json', TUTORIAL_MISTAKES]);
  expect(run.code).toBe(1);
  const report = JSON.parse(run.stdout);
  expect(report.findings).toContainEqual({
    rule: 'AF201',
    severity: 'error',
    object: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledJob',
      name: 'summarize-stream',
      namespace: 'summarizers',
      index: 2,
    },
    field: 'spec.scalingStrategy.strategy',
    message: expect.stringMatching(
      /^ScaledJob summarizers\/summarize-stream: spec\.scalingStrategy\.strategy is "default"/,
    ),
    fix: expect.stringContaining('accurate'),
    source: `${TUTORIAL_MISTAKES}#3`,
  });
  expect(report).toMatchObject({ warnings: 3, objects: 6 });
});

test('warnings only: exit 0, reported; --skip and --rule select rules', async () => {
  const file = writeYaml('warned.yaml', brokenFleet('AF205'));
  const warned = await cli(['lint', file]);
  expect(warned.code).toBe(0);
  expect(warned.stdout).toMatch(/warning AF205 {2}spec\.rollout\.strategy/);
  expect((await cli(['lint', '--skip', 'AF205', file])).stdout).toBe('no findings\n');
  const broken = writeYaml('broken.yaml', brokenFleet('AF108'));
  expect((await cli(['lint', '--rule', 'af205', broken])).stdout).toBe('no findings\n');
  expect((await cli(['lint', '--rule', 'AF108', broken])).code).toBe(1);
});

test('reads standard input with "-", and without files when input is piped', async () => {
  const text = stringify(brokenFleet('AF108')[1]);
  for (const argv of [['lint', '-'], ['lint']]) {
    const run = await withStdin(argv, text);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Job research/research-batch (-#1)');
    expect(run.stdout).toContain('AF108');
  }
});

test('unreadable input exits 2: a missing file, broken YAML, nothing piped, a bad flag', async () => {
  const missing = await cli(['lint', path.join(dir, 'nope.yaml')]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/cannot read .*nope\.yaml/);
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'kind: Job\nmetadata: [unclosed\n');
  const broken = await cli(['lint', bad]);
  expect(broken.code).toBe(2);
  expect(broken.stderr).toMatch(/cannot parse .*bad\.yaml#1/);
  expect((await withStdin(['lint'], '', true)).code).toBe(2);
  expect((await cli(['lint', '--format', 'xml', CLEAN_FLEET])).code).toBe(2);
  const unknown = await cli(['lint', '--rule', 'AF999', CLEAN_FLEET]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/no rule AF999/);
});

test('a List is read as its items; an unknown kind is noted, not a crash', async () => {
  const file = writeYaml('list.yaml', [
    { apiVersion: 'v1', kind: 'List', items: brokenFleet('AF108').slice(0, 2) },
    { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } },
  ]);
  const run = await cli(['lint', file]);
  expect(run.code).toBe(1);
  expect(run.stdout).toContain(`(${file}#1.items[1])`);
  expect(run.stdout).toContain('note: Widget w: no schema ships for example.com/v1 Widget');
});
