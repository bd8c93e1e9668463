/**
 * The checkpoint store never holds the event loop: once the worker runs, no synchronous file call
 * touches the store's directory, and the file operations of concurrent tasks overlap (on a network
 * volume each one is a round trip; one task after another, concurrency would buy nothing).
 * Checkpoint writes that meet share their directory fsync (group commit), and none resolves before
 * an fsync that began after its rename. Checked through the store's API and through a real worker
 * in this process against the real broker.
 *
 * `node:fs` is observed, not replaced: every `*Sync` function is wrapped to note calls on the store,
 * and the path-taking functions of `fs.promises` are wrapped to wait a few ms (a network round trip)
 * and count what is in flight, then do the real operation. What one task costs is counted as the
 * requests it sends to the thread pool (each a round trip on a network volume), with either format
 * of leases and done markers.
 */
import { createHook } from 'node:async_hooks';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { Env } from '@agent-fleet/contract';
import fc from 'fast-check';
import pino from 'pino';
import { resolveOptions } from '../src/config';
import {
  type Outcome,
  type SmallRecordFormat,
  shardDirFor,
  TASK_DIRECTORIES_MADE,
  TaskCheckpoints,
} from '../src/store';
import type { TaskContext } from '../src/task-context';
import { AgentWorker } from '../src/worker';
import { declareTopology, testSetup, useTestClient, waitFor } from './support/harness';
import { tempDirs } from './support/temp-dirs';

// The test's own look at the directory, not counted as the store's.
const realReadlink = fs.readlinkSync;
const realReaddir = fs.readdirSync;
/** The files under a store directory (its task subdirectories included), read without the probe. */
const storeFiles = (dir: string): string[] =>
  realReaddir(dir, { recursive: true, encoding: 'utf8' }).filter((f) => !/^[0-9a-f]{2}$/.test(f));
const tempDir = tempDirs('agent-loop-');

afterEach(() => {
  jest.restoreAllMocks();
});

/** What the store did on the file system while observed. */
interface StoreProbe {
  /** Synchronous calls that touched the store: `name path`. */
  readonly syncCalls: string[];
  /** Most asynchronous operations on the store in flight at once. */
  maxInFlight: number;
  /** Most distinct tasks (file stems) with an operation in flight at once. */
  maxTasksInFlight: number;
  /** Directory fsyncs (opens of the store directory itself), each with when it began and ended. */
  readonly dirSyncs: Array<{ began: number; ended?: number }>;
  /** When (event sequence number) each checkpoint file was last renamed into place. */
  readonly renamedAt: Map<string, number>;
  /** The next event sequence number. */
  tick(): number;
}

const PROMISE_FUNCTIONS = [
  'open',
  'readFile',
  'readlink',
  'symlink',
  'rename',
  'unlink',
  'link',
  'writeFile',
  'rm',
  'stat',
] as const;

function observeStore(dir: string, roundTripMs: number): StoreProbe {
  const root = path.resolve(dir);
  const under = (value: unknown): string | undefined => {
    const text = typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString() : undefined;
    if (text === undefined || text.length > 4096) return undefined;
    const resolved = path.resolve(text);
    return resolved === root || resolved.startsWith(`${root}${path.sep}`) ? resolved : undefined;
  };
  const fdUnder = (fd: unknown): string | undefined => {
    if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) return undefined;
    try {
      return under(realReadlink(`/proc/self/fd/${fd}`));
    } catch {
      return undefined;
    }
  };
  let seq = 0;
  const probe: StoreProbe = {
    syncCalls: [],
    maxInFlight: 0,
    maxTasksInFlight: 0,
    dirSyncs: [],
    renamedAt: new Map(),
    tick: () => ++seq,
  };
  const record = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of Object.keys(fs)) {
    const original = record[name];
    if (!name.endsWith('Sync') || typeof original !== 'function') continue;
    jest.spyOn(fs as never, name as never).mockImplementation(((...args: unknown[]) => {
      const touched = args.map(under).find((p) => p !== undefined) ?? fdUnder(args[0]);
      if (touched !== undefined) probe.syncCalls.push(`${name} ${touched}`);
      return original.apply(fs, args);
    }) as never);
  }
  const inFlight = new Map<string, number>();
  let total = 0;
  const promises = fs.promises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of PROMISE_FUNCTIONS) {
    const original = promises[name].bind(fs.promises);
    jest.spyOn(fs.promises, name).mockImplementation((async (...args: unknown[]) => {
      // symlink(target, path): the target is a record's JSON, the path the store's file.
      const file = under(name === 'symlink' ? args[1] : args[0]);
      if (file === undefined) return original(...args);
      const stem = /^\.?([0-9a-f]{64})/.exec(path.basename(file))?.[1] ?? path.basename(file);
      // A directory fsync opens the directory: the store's own or one of its task subdirectories.
      const isDirSync =
        name === 'open' &&
        (file === root || (path.dirname(file) === root && /^[0-9a-f]{2}$/.test(path.basename(file))));
      const sync: { began: number; ended?: number } | undefined = isDirSync
        ? { began: probe.tick() }
        : undefined;
      if (sync) probe.dirSyncs.push(sync);
      total += 1;
      inFlight.set(stem, (inFlight.get(stem) ?? 0) + 1);
      probe.maxInFlight = Math.max(probe.maxInFlight, total);
      probe.maxTasksInFlight = Math.max(probe.maxTasksInFlight, inFlight.size);
      try {
        await new Promise((resolve) => setTimeout(resolve, roundTripMs));
        const result = await original(...args);
        if (name === 'rename') {
          const target = under(args[1]);
          if (target?.endsWith('.checkpoint.json')) probe.renamedAt.set(target, probe.tick());
        }
        if (sync) {
          // The fsync is over once the directory is closed again.
          const handle = result as FileHandle;
          const close = handle.close.bind(handle);
          handle.close = async () => {
            await close();
            sync.ended = probe.tick();
          };
        }
        return result;
      } finally {
        total -= 1;
        const left = (inFlight.get(stem) ?? 1) - 1;
        if (left === 0) inFlight.delete(stem);
        else inFlight.set(stem, left);
      }
    }) as never);
  }
  return probe;
}

/** `prefix-<n>` for the first n whose files go to subdirectory `dir`. */
function idInSubdirectory(prefix: string, dir: string): string {
  for (let n = 0; ; n++) {
    const id = `${prefix}-${n}`;
    if (shardDirFor(id) === dir) return id;
  }
}

function succeeded(id: string): Outcome {
  return { result: { id, status: 'succeeded', output: { id }, attempts: 1 } };
}

/** What the worker does with the store for one fresh task, in its order. */
async function runTask(
  store: TaskCheckpoints,
  probe: StoreProbe,
  id: string,
  checkpoints: number,
): Promise<void> {
  const holder = `pod/1#${id}`;
  expect(await store.acquireLease(id, holder, 30_000)).toEqual({ acquired: true });
  const [marker, resumed] = await Promise.all([store.readDone(id), store.readCheckpoint(id)]);
  expect(marker).toBeUndefined();
  expect(resumed).toBeUndefined();
  for (let step = 1; step <= checkpoints; step++) {
    await store.writeCheckpoint(id, { step }, 'fp');
    // Durable once resolved: some directory fsync began after the rename and ended before now.
    const renamed = probe.renamedAt.get(store.checkpointPath(id));
    const now = probe.tick();
    expect(renamed).toBeDefined();
    expect(
      probe.dirSyncs.some((s) => s.began > (renamed ?? 0) && s.ended !== undefined && s.ended < now),
    ).toBe(true);
  }
  await store.writeDone(id, 'publishing', succeeded(id), 'fp');
  await Promise.all([store.writeDone(id, 'published', succeeded(id), 'fp'), store.removeCheckpoint(id)]);
  await store.releaseLease(id, holder, { stillLive: true });
}

test.each<SmallRecordFormat>(['symlink', 'file'])(
  'concurrent tasks, %s records: no synchronous call on the store, their file operations overlap, their checkpoints share directory fsyncs',
  async (smallRecords) => {
    await fc.assert(
      fc.asyncProperty(
        // Per task, how many checkpoints it writes.
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 10 }),
        async (checkpoints) => {
          const store = new TaskCheckpoints(tempDir(), { smallRecords });
          await store.prepare();
          // prepare() made the task subdirectories: no task creates one.
          expect(fs.existsSync(path.join(store.dir, '00'))).toBe(true);
          const probe = observeStore(store.dir, 5);
          try {
            // Ids whose files share one subdirectory, as tasks of a busy store do: their checkpoints'
            // directory fsyncs can then be shared.
            const ids = checkpoints.map((_, i) => idInSubdirectory(`task-${i}`, '00'));
            await Promise.all(ids.map((id, i) => runTask(store, probe, id, checkpoints[i] ?? 0)));
            expect(probe.syncCalls).toEqual([]);
            // Every task had an operation under way at the same moment (their leases).
            expect(probe.maxTasksInFlight).toBe(ids.length);
            const writers = checkpoints.filter((n) => n > 0).length;
            if (writers >= 4) {
              // Writers in step share fsyncs: fewer than one per checkpoint written.
              const written = checkpoints.reduce((sum, n) => sum + n, 0);
              expect(probe.dirSyncs.length).toBeLessThan(written);
            }
            for (const id of ids) {
              expect((await store.readDone(id))?.state).toBe('published');
              expect(await store.readLease(id)).toBeUndefined();
            }
            expect(storeFiles(store.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
          } finally {
            jest.restoreAllMocks();
          }
        },
      ),
      { numRuns: 8 },
    );
  },
);

/** Requests `step` sends to the thread pool: each a hop there and back, and a round trip on NFS. */
async function threadPoolRequests(step: () => Promise<unknown>): Promise<number> {
  let requests = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'FSREQPROMISE' || type === 'FILEHANDLECLOSEREQ') requests += 1;
    },
  }).enable();
  try {
    await step();
  } finally {
    hook.disable();
  }
  return requests;
}

// Regular files cost what they cost before leases and markers could be symbolic links: a create is
// open, write, close; a read open, fstat, read, close (absent: the open alone). A symbolic link is
// one request either way. Before the ack a task waits for the lease, the lookups (at once: one
// round trip) and the `publishing` marker: 3 + 1 + 3 = 7 round trips in a row with files, 1 + 1 +
// 1 = 3 with symbolic links.
test.each([
  ['file', { lease: 3, lookups: 4, renewal: 8, publishing: 3, published: 1, redelivered: 5, release: 1 }],
  ['symlink', { lease: 1, lookups: 4, renewal: 3, publishing: 1, published: 1, redelivered: 2, release: 1 }],
] as const)(
  'what one task costs with %s records, in thread-pool requests',
  async (smallRecords, expected) => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords });
    await store.prepare();
    const id = 'task';
    const holder = 'pod/1#1';
    // prepare() made the task subdirectories (once per volume, not per task).
    expect(fs.existsSync(path.join(store.dir, shardDirFor(id)))).toBe(true);
    const cost = {
      lease: await threadPoolRequests(() => store.acquireLease(id, holder, 30_000)),
      lookups: await threadPoolRequests(() => Promise.all([store.readDone(id), store.readCheckpoint(id)])),
      renewal: await threadPoolRequests(() => store.renewLease(id, holder, 30_000)),
      publishing: await threadPoolRequests(() => store.writeDone(id, 'publishing', succeeded(id), 'fp')),
      published: await threadPoolRequests(() => store.writeDone(id, 'published', succeeded(id), 'fp')),
      // A redelivery of the finished task: both marker names read at once, `published` found.
      redelivered: await threadPoolRequests(() => store.readDone(id)),
      release: await threadPoolRequests(() => store.releaseLease(id, holder, { stillLive: true })),
    };
    expect(cost).toEqual(expected);
    expect((await store.readDone(id))?.state).toBe('published');
  },
);

describe('a real worker in this process, against the real broker', () => {
  const client = useTestClient();

  test("AGENT_CONCURRENCY=8: no synchronous call on the store once started, and the tasks' file operations overlap", async () => {
    const setup = testSetup('event-loop');
    await declareTopology(setup);
    const tasks = 24;
    const options = resolveOptions({}, setup.env({ [Env.AGENT_CONCURRENCY]: '8' }));
    const handler = async (input: { checkpoint: boolean }, ctx: TaskContext<{ step: number }>) => {
      if (input.checkpoint) await ctx.checkpoint({ step: 1 });
      return { done: true };
    };
    const worker = new AgentWorker(
      handler as never,
      options,
      pino({ level: 'silent' }),
      async () => undefined,
    );
    await worker.start();
    const probe = observeStore(setup.checkpointDir, 5);
    try {
      for (let i = 0; i < tasks; i++) {
        await client().publishTask(setup.taskQueue, `loop-${i}`, { checkpoint: i % 2 === 0 });
      }
      const results = await client().waitForResults(setup.resultQueue, tasks);
      expect(new Set(results.map((r) => r.id)).size).toBe(tasks);
      expect(results.every((r) => r.status === 'succeeded')).toBe(true);
      // The last leases are dropped just after the acks.
      await waitFor('every lease released', () =>
        storeFiles(setup.checkpointDir).some((f) => f.endsWith('.lease.json')) ? undefined : true,
      );
      expect(probe.syncCalls).toEqual([]);
      expect(probe.maxTasksInFlight).toBeGreaterThanOrEqual(4);
    } finally {
      jest.restoreAllMocks();
      await worker.close('idle');
    }
    const files = storeFiles(setup.checkpointDir);
    expect(files.filter((f) => f.endsWith('.published.json'))).toHaveLength(tasks);
    expect(files.filter((f) => !f.endsWith('.published.json') && f !== TASK_DIRECTORIES_MADE)).toEqual([]);
    await client().deleteQueues(setup.taskQueue, setup.deadQueue, setup.resultQueue);
  });
});
