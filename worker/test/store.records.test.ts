/**
 * Leases and done markers as small records: a symbolic link whose target is the record's JSON (one
 * operation to create, exclusively, and one to read), or a regular file where the volume refuses
 * symbolic links and for records over `MAX_SYMLINK_RECORD_BYTES`. Every store reads both formats,
 * so stores of either format share a directory without losing a lease or a marker.
 */
import fs, {
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { MAX_TASK_ID_BYTES, taskIdViolation } from '@agent-fleet/contract';
import fc from 'fast-check';
import {
  CorruptCheckpointError,
  type DoneMarker,
  MAX_SYMLINK_RECORD_BYTES,
  type Outcome,
  type SmallRecordFormat,
  smallRecordFormatFor,
  TASK_DIRECTORIES_MADE,
  TaskCheckpoints,
} from '../src/store';
import { tempDirs } from './support/temp-dirs';

const tempDir = tempDirs('agent-records-');

afterEach(() => {
  jest.restoreAllMocks();
});

const FORMATS: readonly SmallRecordFormat[] = ['symlink', 'file'];

/** The format a record was written in, as the directory shows it. */
function formatOf(file: string): SmallRecordFormat {
  const stat = lstatSync(file);
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFile()) return 'file';
  throw new Error(`${file} is neither a symbolic link nor a regular file`);
}

/** Files left under `dir` that are no record: temp names, leases moved aside. */
function leftovers(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(tmp|stale)$/.test(f));
}

function outcome(id: string, output: unknown = 1): Outcome {
  return { result: { id, status: 'succeeded', output, attempts: 1 } };
}

/** The JSON of the marker `writeDone` stores, but for its time (always 24 characters). */
function markerJson(id: string, output: unknown): string {
  const marker: DoneMarker = {
    taskId: id,
    state: 'publishing',
    outcome: outcome(id, output),
    at: new Date(0).toISOString(),
  };
  return JSON.stringify(marker);
}

function markerBytes(id: string, output: unknown): number {
  return Buffer.byteLength(markerJson(id, output), 'utf8');
}

/** An output string that makes the marker of `id` exactly `bytes` long, with two-byte characters in it. */
function outputForMarkerOf(id: string, bytes: number): string {
  const base = markerBytes(id, '');
  const twoByte = 'é'.repeat(100); // 200 bytes
  const ascii = 'x'.repeat(bytes - base - 200);
  const output = twoByte + ascii;
  expect(markerBytes(id, output)).toBe(bytes);
  return output;
}

describe('the record format', () => {
  test('prepare() detects symbolic links on a volume that holds them; a given format is kept without probing', async () => {
    const detected = new TaskCheckpoints(tempDir());
    // Before prepare(): the format every writable volume holds.
    expect(detected.smallRecords).toBe('file');
    await detected.prepare();
    expect(detected.smallRecords).toBe('symlink');
    // The probe link is gone: the store holds its task subdirectories only.
    expect(readdirSync(detected.dir).filter((name) => !/^[0-9a-f]{2}$/.test(name))).toEqual([
      TASK_DIRECTORIES_MADE,
    ]);

    const symlink = jest.spyOn(fs.promises, 'symlink');
    const forced = new TaskCheckpoints(tempDir(), { smallRecords: 'file' });
    await forced.prepare();
    expect(forced.smallRecords).toBe('file');
    expect(symlink).not.toHaveBeenCalled();
  });

  test('the probe falls back to regular files when symlink() is refused or the target comes back changed; other errors are thrown', () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    for (const code of ['EPERM', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS', 'EINVAL']) {
      expect(smallRecordFormatFor({ error: errno(code) })).toBe('file');
    }
    expect(smallRecordFormatFor({ readBack: '{"probe":"a/b\\\\c:d ??"}' })).toBe('file');
    expect(smallRecordFormatFor({ readBack: '' })).toBe('file');
    for (const code of ['EACCES', 'EROFS', 'ENOSPC', 'EIO', 'EDQUOT']) {
      const error = errno(code);
      expect(() => smallRecordFormatFor({ error })).toThrow(error);
    }
    const notErrno = new Error('no code');
    expect(() => smallRecordFormatFor({ error: notErrno })).toThrow(notErrno);
  });

  test.each(FORMATS)('as %s: leases and markers are written in that format and read back', async (format) => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords: format });
    await store.prepare();
    expect(store.smallRecords).toBe(format);
    expect(await store.acquireLease('a', 'pod-a', 60_000)).toEqual({ acquired: true });
    expect(formatOf(store.leasePath('a'))).toBe(format);
    expect(await store.renewLease('a', 'pod-a', 60_000)).toBe(true);
    expect(formatOf(store.leasePath('a'))).toBe(format);
    await store.writeDone('a', 'publishing', outcome('a'), 'fp');
    expect(formatOf(store.donePath('a'))).toBe(format);
    expect(await store.readDone('a')).toMatchObject({ taskId: 'a', state: 'publishing', input: 'fp' });
    // The rename to `published` keeps the record as it is.
    await store.writeDone('a', 'published', outcome('a'), 'fp');
    expect(formatOf(store.publishedPath('a'))).toBe(format);
    expect(await store.readDone('a')).toMatchObject({
      taskId: 'a',
      state: 'published',
      outcome: outcome('a'),
    });
    // A marker written whole, without a `publishing` one before it.
    await store.writeDone('b', 'published', outcome('b'));
    expect(formatOf(store.publishedPath('b'))).toBe(format);
    await store.releaseLease('a', 'pod-a');
    expect(await store.readLease('a')).toBeUndefined();
    expect(leftovers(store.dir)).toEqual([]);
  });

  test(`a marker of at most ${MAX_SYMLINK_RECORD_BYTES} bytes of UTF-8 is a symbolic link, a larger one a regular file; both read back equal`, async () => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords: 'symlink' });
    const cases = [
      { id: 'at-limit', bytes: MAX_SYMLINK_RECORD_BYTES, format: 'symlink' },
      { id: 'over-limit', bytes: MAX_SYMLINK_RECORD_BYTES + 1, format: 'file' },
    ] as const;
    for (const { id, bytes, format } of cases) {
      const output = outputForMarkerOf(id, bytes);
      await store.writeDone(id, 'publishing', outcome(id, output));
      expect(formatOf(store.donePath(id))).toBe(format);
      expect(await store.readDone(id)).toMatchObject({
        taskId: id,
        state: 'publishing',
        outcome: outcome(id, output),
      });
      // Rewritten whole (another outcome of the same size): still the same format, read back equal.
      const other = output.replace('x', 'y');
      await store.writeDone(id, 'publishing', outcome(id, other));
      expect(formatOf(store.donePath(id))).toBe(format);
      expect((await store.readDone(id))?.outcome).toEqual(outcome(id, other));
      await store.writeDone(id, 'published', outcome(id, other));
      expect(formatOf(store.publishedPath(id))).toBe(format);
      expect(await store.readDone(id)).toMatchObject({ state: 'published', outcome: outcome(id, other) });
    }
    // The limit counts bytes, not characters: a marker of fewer characters but more bytes is a file.
    const wide = 'é'.repeat(Math.floor((MAX_SYMLINK_RECORD_BYTES - markerBytes('wide', '')) / 2) + 1);
    expect(markerJson('wide', wide).length).toBeLessThan(MAX_SYMLINK_RECORD_BYTES);
    expect(markerBytes('wide', wide)).toBeGreaterThan(MAX_SYMLINK_RECORD_BYTES);
    await store.writeDone('wide', 'publishing', outcome('wide', wide));
    expect(formatOf(store.donePath('wide'))).toBe('file');
    expect((await store.readDone('wide'))?.outcome).toEqual(outcome('wide', wide));
  });
});

describe.each([
  ['file', 'symlink'],
  ['symlink', 'file'],
] as const)('records written as %s, read by a store writing %s', (writerFormat, readerFormat) => {
  function stores(): { writer: TaskCheckpoints; reader: TaskCheckpoints } {
    const dir = tempDir();
    return {
      writer: new TaskCheckpoints(dir, { smallRecords: writerFormat }),
      reader: new TaskCheckpoints(dir, { smallRecords: readerFormat }),
    };
  }

  test('a live lease of the other format keeps the task; an expired one is taken over', async () => {
    const { writer, reader } = stores();
    expect(await writer.acquireLease('l', 'pod-w', 10_000, 1000)).toEqual({ acquired: true });
    expect(formatOf(writer.leasePath('l'))).toBe(writerFormat);
    expect(await reader.readLease('l')).toEqual({ taskId: 'l', holder: 'pod-w', expiresAt: 11_000 });
    expect(await reader.acquireLease('l', 'pod-r', 10_000, 2000)).toEqual({
      acquired: false,
      holder: 'pod-w',
      expiresInMs: 9000,
    });
    expect(await reader.renewLease('l', 'pod-r', 10_000)).toBe(false);
    // The holder renews through either store: the renewal is in the renewing store's format.
    expect(await reader.renewLease('l', 'pod-w', 10_000)).toBe(true);
    expect(formatOf(writer.leasePath('l'))).toBe(readerFormat);
    expect(await writer.renewLease('l', 'pod-w', 10_000)).toBe(true);
    expect(formatOf(writer.leasePath('l'))).toBe(writerFormat);
    // Expired: the reader takes it over, in its own format; the old holder can no longer renew.
    const later = Date.now() + 60_000;
    expect(await reader.acquireLease('l', 'pod-r', 10_000, later)).toEqual({ acquired: true });
    expect(formatOf(reader.leasePath('l'))).toBe(readerFormat);
    expect(await writer.renewLease('l', 'pod-w', 10_000)).toBe(false);
    expect((await writer.readLease('l'))?.holder).toBe('pod-r');
    await writer.releaseLease('l', 'pod-w'); // not the holder: no effect
    expect((await reader.readLease('l'))?.holder).toBe('pod-r');
    await writer.releaseLease('l', 'pod-r');
    expect(await reader.readLease('l')).toBeUndefined();
    expect(leftovers(reader.dir)).toEqual([]);
  });

  test('a marker of the other format is found with the same outcome, and its id is checked', async () => {
    const { writer, reader } = stores();
    await writer.writeDone('m', 'publishing', outcome('m', { n: 1 }), 'fp');
    expect(formatOf(writer.donePath('m'))).toBe(writerFormat);
    const publishing = await writer.readDone('m');
    expect(await reader.readDone('m')).toEqual(publishing);
    expect(publishing).toMatchObject({ taskId: 'm', state: 'publishing', input: 'fp' });
    // Rewritten by the other store (another outcome): replaced whole, in the rewriter's format.
    await reader.writeDone('m', 'publishing', outcome('m', { n: 2 }), 'fp');
    expect(formatOf(reader.donePath('m'))).toBe(readerFormat);
    expect((await writer.readDone('m'))?.outcome).toEqual(outcome('m', { n: 2 }));
    // Published by the writer: the rename keeps the reader's format, and both read it as published.
    await writer.writeDone('m', 'published', outcome('m', { n: 2 }), 'fp');
    expect(formatOf(writer.publishedPath('m'))).toBe(readerFormat);
    expect(await reader.readDone('m')).toEqual(await writer.readDone('m'));
    expect((await reader.readDone('m'))?.state).toBe('published');
    // A marker of another id under this id's name (a copy, a bug) is corrupt in either format.
    await writer.writeDone('other', 'published', outcome('other'));
    mkdirSync(path.dirname(reader.publishedPath('n')), { recursive: true });
    renameSync(writer.publishedPath('other'), reader.publishedPath('n'));
    await expect(reader.readDone('n')).rejects.toBeInstanceOf(CorruptCheckpointError);
  });
});

describe('leases as symbolic links', () => {
  test('an expired lease is taken over; a live one moved aside by a contender that read it expired goes back via link(), still a symbolic link', async () => {
    const dir = tempDir();
    const a = new TaskCheckpoints(dir, { smallRecords: 'symlink' });
    const b = new TaskCheckpoints(dir, { smallRecords: 'symlink' });
    const file = a.leasePath('t');
    expect(await a.acquireLease('t', 'pod-a', 1000, 0)).toEqual({ acquired: true });
    const now = Date.now();
    // Pod b reads pod a's lease as expired; before b moves it aside, pod c takes it over (reading
    // it expired as well) and holds it live: b moves c's live lease aside, reads it again and puts
    // it back.
    const rename = fs.promises.rename;
    const realRename = rename.bind(fs.promises);
    const c = new TaskCheckpoints(dir, { smallRecords: 'symlink' });
    let cTookOver = false;
    jest.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      if (!cTookOver && from === file) {
        cTookOver = true;
        expect(await c.acquireLease('t', 'pod-c', 60_000, now)).toEqual({ acquired: true });
      }
      return realRename(from, to);
    });
    const cLease = JSON.stringify({ taskId: 't', holder: 'pod-c', expiresAt: now + 60_000 });
    expect(await b.acquireLease('t', 'pod-b', 60_000, now)).toEqual({
      acquired: false,
      holder: 'pod-c',
      expiresInMs: 60_000,
    });
    expect(cTookOver).toBe(true);
    // c's lease is back in place: the hard link is of the symbolic link itself, not of its target.
    expect(formatOf(file)).toBe('symlink');
    expect(readlinkSync(file)).toBe(cLease);
    expect(lstatSync(file).nlink).toBe(1); // the name it was moved to is gone again
    expect(leftovers(dir)).toEqual([]);
    jest.restoreAllMocks();
    expect(await c.renewLease('t', 'pod-c', 60_000)).toBe(true);
    expect(await b.renewLease('t', 'pod-b', 60_000)).toBe(false);
    expect(await a.renewLease('t', 'pod-a', 60_000)).toBe(false);
  });

  test('a torn or damaged target protects nothing, like a torn lease file; a torn marker is unreadable', async () => {
    const store = new TaskCheckpoints(tempDir(), { smallRecords: 'symlink' });
    mkdirSync(path.dirname(store.leasePath('t')), { recursive: true });
    symlinkSync('{"taskId":"t","hold', store.leasePath('t'));
    expect(await store.readLease('t')).toBeUndefined();
    expect(await store.acquireLease('t', 'pod', 60_000)).toEqual({ acquired: true });
    expect((await store.readLease('t'))?.holder).toBe('pod');
    // A marker whose target is not JSON: corrupt, as a torn regular marker is.
    symlinkSync('{"taskId":', store.donePath('t'));
    await expect(store.readDone('t')).rejects.toBeInstanceOf(CorruptCheckpointError);
    // A `published` marker decides over it, in either format.
    writeFileSync(
      store.publishedPath('t'),
      JSON.stringify({
        taskId: 't',
        state: 'publishing',
        outcome: outcome('t'),
        at: new Date().toISOString(),
      }),
    );
    expect((await store.readDone('t'))?.state).toBe('published');
    // A rewrite replaces the torn marker whole.
    rmSync(store.publishedPath('t'));
    await store.writeDone('t', 'publishing', outcome('t'));
    expect(await store.readDone('t')).toMatchObject({ taskId: 't', state: 'publishing' });
    expect(leftovers(store.dir)).toEqual([]);
  });

  test.each(FORMATS)(
    'reading as %s first: a record replaced by one of the other kind between the two reads is read again, never followed as a path',
    async (format) => {
      const store = new TaskCheckpoints(tempDir(), { smallRecords: format });
      const file = store.leasePath('r');
      mkdirSync(path.dirname(file), { recursive: true });
      const lease = (holder: string) =>
        JSON.stringify({ taskId: 'r', holder, expiresAt: Date.now() + 60_000 });
      // Found as the other kind first (a regular file for a reader of symbolic links, and the other
      // way round), then replaced by a record of the reader's own kind before the second read.
      const replaced = path.join(path.dirname(file), 'replacement');
      if (format === 'symlink') {
        writeFileSync(file, lease('before'));
        symlinkSync(lease('after'), replaced);
      } else {
        symlinkSync(lease('before'), file);
        writeFileSync(replaced, lease('after'));
      }
      const first = format === 'symlink' ? 'readlink' : 'readFile';
      const original = fs.promises[first].bind(fs.promises) as (...args: unknown[]) => Promise<unknown>;
      jest.spyOn(fs.promises, first).mockImplementationOnce((async (...args: unknown[]) => {
        try {
          return await original(...args);
        } finally {
          renameSync(replaced, file);
        }
      }) as never);
      // Before: the kind the reader did not expect; after: its own kind again. A regular-file read
      // that met the symbolic link would have followed the JSON as a path: ENOENT, "no lease".
      expect((await store.readLease('r'))?.holder).toBe('after');
      expect(formatOf(file)).toBe(format);
    },
  );
});

/** Up to `MAX_TASK_ID_BYTES` bytes of UTF-8 of `text`, cut at a code point. */
function fitTaskId(text: string): string {
  let bytes = 0;
  let id = '';
  for (const char of text) {
    bytes += Buffer.byteLength(char, 'utf8');
    if (bytes > MAX_TASK_ID_BYTES) break;
    id += char;
  }
  return id;
}

test('any task id and holder round-trip through a lease as a symbolic link: created, read, renewed, released', async () => {
  const store = new TaskCheckpoints(tempDir(), { smallRecords: 'symlink' });
  // Any well-formed id, and ids near the byte limit made of what JSON escapes or UTF-8 widens.
  const taskId = fc
    .oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }),
      fc.string({
        unit: fc.constantFrom('\u0000', '\u001f', '"', '\\', '/', '.', 'é', '€', '𝄞', 'a'),
        minLength: 200,
        maxLength: 300,
      }),
    )
    .map(fitTaskId)
    .filter((id) => taskIdViolation(id) === undefined);
  const holder = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 });
  await fc.assert(
    fc.asyncProperty(taskId, holder, fc.integer({ min: 1, max: 2 ** 40 }), async (id, who, now) => {
      const ttl = 60_000;
      expect(await store.acquireLease(id, who, ttl, now)).toEqual({ acquired: true });
      const written = JSON.stringify({ taskId: id, holder: who, expiresAt: now + ttl });
      const file = store.leasePath(id);
      if (Buffer.byteLength(written, 'utf8') <= MAX_SYMLINK_RECORD_BYTES) {
        expect(formatOf(file)).toBe('symlink');
        expect(readlinkSync(file, 'utf8')).toBe(written);
      } else {
        expect(formatOf(file)).toBe('file');
      }
      expect(await store.readLease(id)).toEqual({ taskId: id, holder: who, expiresAt: now + ttl });
      expect(await store.acquireLease(id, `${who}'`, ttl, now)).toEqual({
        acquired: false,
        holder: who,
        expiresInMs: ttl,
      });
      const before = Date.now();
      expect(await store.renewLease(id, who, ttl)).toBe(true);
      const renewed = await store.readLease(id);
      expect(renewed).toMatchObject({ taskId: id, holder: who });
      expect(renewed?.expiresAt).toBeGreaterThanOrEqual(before + ttl);
      expect(await store.renewLease(id, `${who}'`, ttl)).toBe(false);
      await store.releaseLease(id, who);
      expect(await store.readLease(id)).toBeUndefined();
    }),
    { numRuns: 200 },
  );
  expect(leftovers(store.dir)).toEqual([]);
});
