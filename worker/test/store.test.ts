import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { checkpointFileFor, doneFileFor, TaskCheckpoints, writeFileAtomic } from '../src/store';

const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-store-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file names are safe and distinct for any task ids', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), (a, b) => {
      const name = checkpointFileFor(a);
      const safe =
        /^[0-9a-f]{64}\.checkpoint\.json$/.test(name) && /^[0-9a-f]{64}\.done\.json$/.test(doneFileFor(a));
      return safe && (a === b) === (checkpointFileFor(a) === checkpointFileFor(b));
    }),
  );
  expect(checkpointFileFor('../../etc/passwd')).not.toContain('/');
});

test('checkpoints are keyed by task id and round-trip any JSON state', async () => {
  const store = new TaskCheckpoints(tempDir());
  await store.prepare();
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 1 }), fc.jsonValue(), async (id, state) => {
      await store.writeCheckpoint(id, state);
      const read = await store.readCheckpoint(id);
      return JSON.stringify(read?.state) === JSON.stringify(state);
    }),
    { numRuns: 50 },
  );
  expect(await store.readCheckpoint('never-written')).toBeUndefined();
  // No temp files left behind.
  expect(readdirSync(store.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

test('concurrent writers never tear a file: the result is one of the complete writes', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'target.json');
  const payloads = Array.from({ length: 20 }, (_, i) =>
    JSON.stringify({ writer: i, pad: 'x'.repeat(50_000 + i) }),
  );
  await Promise.all(payloads.map((p) => writeFileAtomic(file, p)));
  expect(payloads).toContain(readFileSync(file, 'utf8'));
  expect(readdirSync(dir)).toEqual(['target.json']);
});

test('a failed write leaves the previous file intact and no temp file', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'target.json');
  await writeFileAtomic(file, 'old');
  await expect(writeFileAtomic(path.join(dir, 'missing-dir', 'x.json'), 'new')).rejects.toThrow(/ENOENT/);
  expect(readFileSync(file, 'utf8')).toBe('old');
  expect(readdirSync(dir)).toEqual(['target.json']);
});

test('state that is not JSON is refused; a corrupt checkpoint is reported as such', async () => {
  const store = new TaskCheckpoints(tempDir());
  await expect(store.writeCheckpoint('a', undefined)).rejects.toThrow(/JSON-serializable/);
  await expect(store.writeCheckpoint('a', { n: 1n })).rejects.toThrow();
  writeFileSync(store.checkpointPath('b'), '{"taskId":');
  await expect(store.readCheckpoint('b')).rejects.toThrow(/not valid JSON/);
});

test('done markers record the outcome and its publishing state', async () => {
  const store = new TaskCheckpoints(tempDir());
  const outcome = { result: { id: 't', status: 'succeeded' as const, output: 1, attempts: 1 } };
  await store.writeDone('t', 'publishing', outcome);
  expect(await store.readDone('t')).toMatchObject({ taskId: 't', state: 'publishing', outcome });
  await store.writeDone('t', 'published', outcome);
  expect((await store.readDone('t'))?.state).toBe('published');
});
