import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { isStorageError, StorageError } from '../src/errors';
import { cgroupMemorySource, memoryHigh } from '../src/memory';
import {
  CorruptCheckpointError,
  checkpointFileFor,
  doneFileFor,
  type SmallRecordFormat,
  TaskCheckpoints,
  writeFileAtomic,
} from '../src/store';
import { tempDirs } from './support/temp-dirs';

/** Whether a record is there: a symbolic link whose target (JSON) names no file is one too. */
function present(file: string): boolean {
  return lstatSync(file, { throwIfNoEntry: false }) !== undefined;
}

/** Writes a file of the store by hand, creating its task subdirectory as the store would. */
function writeStoreFile(file: string, data: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
}

const tempDir = tempDirs('agent-store-');

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

// Every test of the store's API, with leases and markers as symbolic links and as regular files.
describe.each<SmallRecordFormat>(['symlink', 'file'])('small records as %s', (smallRecords) => {
  test('checkpoints are keyed by task id and round-trip any JSON state', async () => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords });
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
    expect(
      readdirSync(store.dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tmp')),
    ).toEqual([]);
  });

  test('state that is not JSON is refused; a corrupt checkpoint is reported as such', async () => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords });
    await expect(store.writeCheckpoint('a', undefined)).rejects.toThrow(/JSON-serializable/);
    await expect(store.writeCheckpoint('a', { n: 1n })).rejects.toThrow();
    writeStoreFile(store.checkpointPath('b'), '{"taskId":');
    await expect(store.readCheckpoint('b')).rejects.toThrow(/not valid JSON/);
  });

  test('done markers record the outcome and its publishing state', async () => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords });
    const outcome = { result: { id: 't', status: 'succeeded' as const, output: 1, attempts: 1 } };
    await store.writeDone('t', 'publishing', outcome);
    expect(await store.readDone('t')).toMatchObject({ taskId: 't', state: 'publishing', outcome });
    await store.writeDone('t', 'published', outcome);
    expect(await store.readDone('t')).toMatchObject({ taskId: 't', state: 'published', outcome });
    // `published` is the same file renamed (one operation), never a second copy.
    expect(present(store.donePath('t'))).toBe(false);
    expect(present(store.publishedPath('t'))).toBe(true);
    // A published marker wins over a torn publishing marker (a later rewrite that crashed).
    writeStoreFile(store.donePath('t'), '{"taskId":');
    expect((await store.readDone('t'))?.state).toBe('published');
    // Without a publishing marker, `published` is written whole.
    await store.writeDone('u', 'published', outcome);
    expect(await store.readDone('u')).toMatchObject({ taskId: 'u', state: 'published', outcome });
  });

  test('the previous generation is kept; a torn or damaged current file falls back to it, reported', async () => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords });
    await store.writeCheckpoint('g', { step: 1 });
    await store.writeCheckpoint('g', { step: 2 });
    expect(await store.readCheckpoint('g')).toEqual({ state: { step: 2 } });

    const problems: string[] = [];
    const note = (message: string) => problems.push(message);
    // Damaged but still JSON: the checksum catches it.
    const current = JSON.parse(readFileSync(store.checkpointPath('g'), 'utf8'));
    writeStoreFile(store.checkpointPath('g'), JSON.stringify({ ...current, state: { step: 99 } }));
    expect(await store.readCheckpoint('g', note)).toEqual({ state: { step: 1 } });
    expect(problems).toEqual([expect.stringMatching(/fails its checksum; trying the previous generation/)]);

    // Torn (truncated) current file.
    writeStoreFile(store.checkpointPath('g'), '{"taskId":"g","sta');
    expect(await store.readCheckpoint('g', note)).toEqual({ state: { step: 1 } });
    // A crash between the two renames leaves only the previous generation.
    rmSync(store.checkpointPath('g'));
    expect(await store.readCheckpoint('g')).toEqual({ state: { step: 1 } });
    // Both unusable: reported as corrupt (the worker starts afresh, logged).
    writeStoreFile(store.checkpointPath('g'), 'garbage');
    writeFileSync(
      store.previousCheckpointPath('g'),
      JSON.stringify({ taskId: 'other', state: 1, sha256: 'x' }),
    );
    await expect(store.readCheckpoint('g')).rejects.toBeInstanceOf(CorruptCheckpointError);
    await store.removeCheckpoint('g');
    expect(existsSync(store.checkpointPath('g')) || existsSync(store.previousCheckpointPath('g'))).toBe(
      false,
    );
  });

  test('an unusable checkpoint directory is a StorageError that names the directory', async () => {
    const dir = tempDir();
    const store = new TaskCheckpoints(path.join(dir, 'not-a-dir'), { smallRecords });
    writeFileSync(store.dir, 'a file where the volume should be');
    const error = await store.writeCheckpoint('s', { step: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(isStorageError(new Error('wrapped', { cause: error }))).toBe(true);
    expect(String((error as Error).message)).toMatch(
      /cannot write a checkpoint in the checkpoint store .*not-a-dir: .*ENOTDIR/,
    );
    await expect(store.readCheckpoint('s')).rejects.toBeInstanceOf(StorageError);
    await expect(
      store.writeDone('s', 'published', { result: { id: 's', status: 'succeeded', attempts: 1 } }),
    ).rejects.toBeInstanceOf(StorageError);
  });

  test('leases: exclusive while live, renewed by the holder only, taken over once expired', async () => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords });
    expect(await store.acquireLease('l', 'pod-a', 10_000, 1000)).toEqual({ acquired: true });
    expect(await store.acquireLease('l', 'pod-b', 10_000, 2000)).toEqual({
      acquired: false,
      holder: 'pod-a',
      expiresInMs: 9000,
    });
    expect(await store.renewLease('l', 'pod-b', 10_000)).toBe(false);
    // Expired (clock past 11 000): pod-b takes it over; pod-a can no longer renew it.
    expect(await store.acquireLease('l', 'pod-b', 10_000, 20_000)).toEqual({ acquired: true });
    expect(await store.renewLease('l', 'pod-a', 10_000)).toBe(false);
    expect(await store.renewLease('l', 'pod-b', 10_000)).toBe(true);
    await store.releaseLease('l', 'pod-a'); // not the holder: no effect
    expect((await store.readLease('l'))?.holder).toBe('pod-b');
    await store.releaseLease('l', 'pod-b');
    expect(await store.readLease('l')).toBeUndefined();
    // A holder that knows its lease is live drops it without the check read.
    expect(await store.acquireLease('l', 'pod-c', 10_000)).toEqual({ acquired: true });
    await store.releaseLease('l', 'pod-c', { stillLive: true });
    expect(present(store.leasePath('l'))).toBe(false);
    await store.releaseLease('l', 'pod-c', { stillLive: true }); // already gone: no error
    // Contenders for an expired lease: one of them ends up holding it. Their file operations
    // interleave (as those of pods do), so a contender may take the lease and lose it again to
    // another's takeover in the same instant (worker/README.md, leases): its first renewal tells it,
    // and only the holder's succeeds.
    writeStoreFile(store.leasePath('m'), JSON.stringify({ taskId: 'm', holder: 'gone', expiresAt: 0 }));
    const holders = ['p1', 'p2', 'p3', 'p4'];
    const outcomes = await Promise.all(holders.map((holder) => store.acquireLease('m', holder, 60_000)));
    const winners = holders.filter((_, i) => outcomes[i].acquired);
    expect(winners.length).toBeGreaterThanOrEqual(1);
    const renewed = [];
    for (const holder of winners) {
      if (await store.renewLease('m', holder, 60_000)) renewed.push(holder);
    }
    expect(renewed).toEqual([(await store.readLease('m'))?.holder]);
  });
});

test('memory: cgroup v2, then v1, "max" and huge v1 limits mean unlimited', async () => {
  const v2 = tempDir();
  writeFileSync(path.join(v2, 'memory.max'), '1000\n');
  writeFileSync(path.join(v2, 'memory.current'), '850\n');
  expect(await cgroupMemorySource(v2)()).toMatchObject({ usedBytes: 850, limitBytes: 1000 });
  expect(memoryHigh({ usedBytes: 850, limitBytes: 1000 }, 0.9)).toBe(false);
  expect(memoryHigh({ usedBytes: 900, limitBytes: 1000 }, 0.9)).toBe(true);
  expect(memoryHigh(undefined, 0.1)).toBe(false);

  const v1 = tempDir();
  mkdirSync(path.join(v1, 'memory'));
  writeFileSync(path.join(v1, 'memory.max'), 'max\n');
  writeFileSync(path.join(v1, 'memory', 'memory.limit_in_bytes'), '2048');
  writeFileSync(path.join(v1, 'memory', 'memory.usage_in_bytes'), '1024');
  expect(await cgroupMemorySource(v1)()).toMatchObject({ usedBytes: 1024, limitBytes: 2048 });
  writeFileSync(path.join(v1, 'memory', 'memory.limit_in_bytes'), '9223372036854771712');
  const fallback = await cgroupMemorySource(v1)();
  // No cgroup limit: process.constrainedMemory() decides (undefined when it reports none either).
  expect(fallback === undefined || fallback.limitBytes < 2 ** 60).toBe(true);
});
