/** `agent-fleet results DIR`: formats, filters, export, unusable files and exit codes. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ResultMessage, resultFileNameFor } from '@agent-fleet/contract';
import fc from 'fast-check';
import { readResults } from '../src/results';
import { cli } from './support/io';

let root: string;
beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'af-results-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
/** A fresh store holding `results`, each in the file the worker names after its id. */
function store(results: readonly ResultMessage[]): string {
  const dir = path.join(root, `store-${++dirs}`);
  mkdirSync(dir);
  for (const result of results) {
    writeFileSync(path.join(dir, resultFileNameFor(result.id)), JSON.stringify(result));
  }
  // What else lives in a checkpoint store is not a result.
  writeFileSync(path.join(dir, `${'0'.repeat(64)}.checkpoint.json`), '{}');
  writeFileSync(path.join(dir, `.${'1'.repeat(64)}.result.json.123.tmp`), '{');
  return dir;
}

const ok: ResultMessage = { id: 'task-1', status: 'succeeded', output: { pages: 3 }, attempts: 1 };
const failed: ResultMessage = {
  id: 'task-2',
  status: 'failed',
  error: 'permanent-error: cannot do it\nsecond line',
  attempts: 2,
};

test('the file name is the SHA-256 of the task id, as the worker names it', () => {
  expect(resultFileNameFor('a')).toBe(`${createHash('sha256').update('a').digest('hex')}.result.json`);
});

test('table: one row per result sorted by id, output or error on one line, a summary; exit 1 when one failed', async () => {
  const run = await cli(['results', store([failed, ok])]);
  expect(run.code).toBe(1);
  expect(run.stderr).toBe('');
  expect(run.stdout.split('\n')).toEqual([
    'STATUS     ATTEMPTS  ID      OUTPUT / ERROR',
    'succeeded  1         task-1  {"pages":3}',
    'failed     2         task-2  permanent-error: cannot do it second line',
    '2 result(s): 1 succeeded, 1 failed',
    '',
  ]);
  expect((await cli(['results', store([ok])])).code).toBe(0);
});

test('json and jsonl carry each result as written; --status filters; --out writes a file', async () => {
  const dir = store([ok, failed]);
  const json = await cli(['results', dir, '--format', 'json']);
  expect(JSON.parse(json.stdout)).toEqual({
    results: [ok, failed],
    unusable: [],
    counts: { succeeded: 1, failed: 1, unusable: 0 },
  });
  const jsonl = await cli(['results', dir, '--format', 'jsonl', '--status', 'failed']);
  expect(jsonl.stdout).toBe(`${JSON.stringify(failed)}\n`);
  expect(jsonl.stderr).toBe('2 result(s): 1 succeeded, 1 failed; 1 shown\n');
  // The exit code speaks for the whole directory, whatever is shown.
  expect(jsonl.code).toBe(1);
  const out = path.join(root, 'export.jsonl');
  const exported = await cli(['results', dir, '--format', 'jsonl', '--out', out]);
  expect(exported.stdout).toBe(`wrote 2 result(s) to ${out}\n2 result(s): 1 succeeded, 1 failed\n`);
  expect(
    readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
  ).toEqual([ok, failed]);
});

test('unusable files are reported on stderr and counted, never fatal: broken JSON, not a result, a foreign or renamed file', async () => {
  const dir = store([ok]);
  writeFileSync(path.join(dir, `${'a'.repeat(64)}.result.json`), '{"id":');
  writeFileSync(
    path.join(dir, `${'b'.repeat(64)}.result.json`),
    JSON.stringify({ id: 'x', status: 'done', attempts: 1 }),
  );
  writeFileSync(path.join(dir, `${'c'.repeat(64)}.result.json`), JSON.stringify({ ...ok, id: 'task-9' }));
  writeFileSync(
    path.join(dir, resultFileNameFor('task-8')),
    JSON.stringify({ ...ok, id: 'task-8', reason: 'x' }),
  );
  const run = await cli(['results', dir]);
  expect(run.code).toBe(1);
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^agent-fleet: cannot use .*a{64}\.result\.json: not valid JSON/),
      expect.stringMatching(
        /b{64}\.result\.json: not a result: it has "status" "done", not one of succeeded, failed$/,
      ),
      expect.stringMatching(
        /c{64}\.result\.json: holds the result of task "task-9", whose result file is [0-9a-f]{64}\.result\.json: renamed or copied from elsewhere$/,
      ),
      expect.stringMatching(/not a result: it has fields a result does not have: reason$/),
    ]),
  );
  expect(run.stdout).toContain('1 result(s): 1 succeeded, 0 failed; 4 unusable file(s)');
});

test('usage errors exit 2; an empty store exits 1 saying so', async () => {
  expect((await cli(['results', path.join(root, 'nope')])).stderr).toMatch(
    /cannot read the directory .*nope/,
  );
  expect((await cli(['results', path.join(root, 'nope')])).code).toBe(2);
  expect((await cli(['results', store([]), '--format', 'csv'])).code).toBe(2);
  expect((await cli(['results', store([]), '--status', 'done'])).code).toBe(2);
  const empty = await cli(['results', store([])]);
  expect(empty.code).toBe(1);
  expect(empty.stderr).toMatch(/no result files \(\*\.result\.json\) in /);
});

test('any set of results reads back exactly, and the exit code is 1 exactly when one failed', async () => {
  const result = fc.record(
    {
      id: fc.string({ minLength: 1, maxLength: 30 }),
      status: fc.constantFrom('succeeded' as const, 'failed' as const),
      output: fc.jsonValue(),
      error: fc.string(),
      attempts: fc.nat(10),
    },
    { requiredKeys: ['id', 'status', 'attempts'] },
  );
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(result, { selector: (r) => r.id, maxLength: 6 }), async (results) => {
      const dir = store(results as ResultMessage[]);
      const report = await readResults(dir);
      const normalized = results.map((r) => JSON.parse(JSON.stringify(r)));
      expect(report.unusable).toEqual([]);
      expect([...report.results].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(
        normalized.sort((a, b) => (a.id < b.id ? -1 : 1)),
      );
      const run = await cli(['results', dir, '--format', 'jsonl']);
      expect(run.code).toBe(results.length === 0 || results.some((r) => r.status === 'failed') ? 1 : 0);
    }),
    { numRuns: 30 },
  );
});
