/**
 * Where the store puts a task's files: in one of 256 subdirectories chosen by the hash of its id,
 * so that tasks in flight change different directories (each create, rename or unlink holds its
 * directory's lock for a round trip on a network volume). A store that also holds files of the flat
 * layout (every file in the directory itself, as older workers wrote them) is read in both places.
 */
import fs, { lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  checkpointFileFor,
  fileStemFor,
  leaseFileFor,
  type Outcome,
  publishedFileFor,
  type SmallRecordFormat,
  shardDirFor,
  TASK_DIRECTORIES_MADE,
  TaskCheckpoints,
} from '../src/store';
import { tempDirs } from './support/temp-dirs';

const tempDir = tempDirs('agent-layout-');

const outcome = (id: string): Outcome => ({ result: { id, status: 'succeeded', output: 1, attempts: 1 } });

test("every file of a task lies in its subdirectory, the first two hex digits of the id's hash", async () => {
  const store = new TaskCheckpoints(tempDir());
  await store.prepare();
  expect(store.readsFlatLayout).toBe(false);
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }), async (id) => {
      expect(shardDirFor(id)).toBe(fileStemFor(id).slice(0, 2));
      expect(await store.acquireLease(id, 'pod', 60_000)).toEqual({ acquired: true });
      await store.writeCheckpoint(id, { step: 1 });
      await store.writeDone(id, 'publishing', outcome(id));
      await store.writeDone(id, 'published', outcome(id));
      const expected = path.join(store.dir, shardDirFor(id));
      for (const file of [store.checkpointPath(id), store.leasePath(id), store.publishedPath(id)]) {
        expect(path.dirname(file)).toBe(expected);
      }
      expect(readdirSync(expected)).toEqual(
        expect.arrayContaining([checkpointFileFor(id), leaseFileFor(id), publishedFileFor(id)]),
      );
      await store.removeCheckpoint(id);
      await store.releaseLease(id, 'pod', { stillLive: true });
    }),
    { numRuns: 30 },
  );
  // Only subdirectories in the store itself, and the note that they were made.
  expect(
    readdirSync(store.dir).every((name) => /^[0-9a-f]{2}$/.test(name) || name === TASK_DIRECTORIES_MADE),
  ).toBe(true);
});

test('prepare() makes the 256 subdirectories once: a later start, or a racing one, makes none; a store used without it makes them as needed', async () => {
  const dir = tempDir();
  const first = new TaskCheckpoints(dir);
  // Two workers starting at once on a new volume.
  await Promise.all([first.prepare(), new TaskCheckpoints(dir).prepare()]);
  const names = readdirSync(dir)
    .filter((name) => name !== TASK_DIRECTORIES_MADE)
    .sort();
  expect(names).toHaveLength(256);
  expect(names[0]).toBe('00');
  expect(names[255]).toBe('ff');
  // A later start looks up one name: no mkdir, and the directory is listed only up to a flat file.
  const mkdir = jest.spyOn(fs.promises, 'mkdir');
  try {
    await new TaskCheckpoints(dir).prepare();
    expect(mkdir).not.toHaveBeenCalled();
  } finally {
    mkdir.mockRestore();
  }
  // A subdirectory removed since (a clean-up by hand) comes back with the next task's first file.
  rmSync(path.join(dir, shardDirFor('after-clean-up')), { recursive: true });
  expect(await first.acquireLease('after-clean-up', 'pod', 60_000)).toEqual({ acquired: true });
  expect(lstatSync(first.leasePath('after-clean-up'))).toBeDefined();
});

// Flat files are regular files, whatever format the reading store writes its own records in.
test.each<SmallRecordFormat>(['symlink', 'file'])(
  'files of the flat layout are still read by a store writing %s records: done marker, checkpoint, a live lease; and removed with the checkpoint',
  async (smallRecords) => {
    const dir = tempDir();
    const flat = (name: string, data: unknown) => writeFileSync(path.join(dir, name), JSON.stringify(data));
    // What a worker of the flat layout left: a published task, a task halfway with its checkpoint,
    // and a task it is running now.
    flat(publishedFileFor('old-done'), {
      taskId: 'old-done',
      state: 'published',
      outcome: outcome('old-done'),
      at: new Date().toISOString(),
    });
    const writer = new TaskCheckpoints(tempDir());
    await writer.writeCheckpoint('old-halfway', { step: 3 });
    // A checkpoint file as the store writes it, moved to where the flat layout kept it.
    writeFileSync(
      path.join(dir, checkpointFileFor('old-halfway')),
      readFileSync(writer.checkpointPath('old-halfway')),
    );
    flat(leaseFileFor('old-running'), {
      taskId: 'old-running',
      holder: 'old-pod',
      expiresAt: Date.now() + 60_000,
    });

    const store = new TaskCheckpoints(dir, { smallRecords });
    await store.prepare();
    expect(store.readsFlatLayout).toBe(true);
    expect(await store.readDone('old-done')).toMatchObject({ taskId: 'old-done', state: 'published' });
    expect(await store.readCheckpoint('old-halfway')).toEqual({ state: { step: 3 }, input: undefined });
    expect(await store.acquireLease('old-running', 'new-pod', 60_000)).toMatchObject({
      acquired: false,
      holder: 'old-pod',
    });
    // The refused lease left nothing behind; a task without a flat lease is taken as usual.
    expect(await store.readLease('old-running')).toBeUndefined();
    expect(await store.acquireLease('old-halfway', 'new-pod', 60_000)).toEqual({ acquired: true });
    expect(lstatSync(store.leasePath('old-halfway')).isSymbolicLink()).toBe(smallRecords === 'symlink');
    // A new checkpoint goes to the subdirectory and wins over the flat one; finishing removes both.
    await store.writeCheckpoint('old-halfway', { step: 4 });
    expect((await store.readCheckpoint('old-halfway'))?.state).toEqual({ step: 4 });
    await store.removeCheckpoint('old-halfway');
    expect(await store.readCheckpoint('old-halfway')).toBeUndefined();
    expect(readdirSync(dir)).not.toContain(checkpointFileFor('old-halfway'));

    // A store without flat files never looks for them.
    const fresh = new TaskCheckpoints(tempDir());
    await fresh.prepare();
    expect(fresh.readsFlatLayout).toBe(false);
    writeFileSync(path.join(fresh.dir, publishedFileFor('x')), '{}');
    expect(await fresh.readDone('x')).toBeUndefined();
  },
);
