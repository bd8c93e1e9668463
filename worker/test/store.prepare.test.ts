/**
 * `TaskCheckpoints.prepare()` at startup: asynchronous, bounded, and never the endless
 * `mkdir -p` that Node's recursive mkdir becomes under /proc.
 */
import fs, { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { isStorageError, StorageError } from '../src/errors';
import { PREPARE_TIMEOUT_MS, TASK_DIRECTORIES_MADE, TaskCheckpoints } from '../src/store';
import { tempDirs } from './support/temp-dirs';

const tempDir = tempDirs('agent-prepare-');

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

test('creates missing levels and proves the directory writable, leaving nothing behind but the empty task subdirectories', async () => {
  const dir = path.join(tempDir(), 'a', 'b', 'c');
  await new TaskCheckpoints(dir).prepare();
  const entries = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' });
  expect(entries.filter((name) => name !== TASK_DIRECTORIES_MADE)).toHaveLength(256);
  expect(entries.every((name) => /^[0-9a-f]{2}$/.test(name) || name === TASK_DIRECTORIES_MADE)).toBe(true);
  await new TaskCheckpoints(dir).prepare(); // again, on an existing directory
});

test('a path under /proc/self fails at once with the OS error instead of spinning', async () => {
  await expect(new TaskCheckpoints('/proc/self/agent-checkpoints').prepare()).rejects.toMatchObject({
    code: 'ENOENT',
  });
});

test('an existing directory on a kernel file system is refused', async () => {
  await expect(new TaskCheckpoints('/proc/self/fd').prepare()).rejects.toThrow(
    /lies on \/proc, a kernel file system that cannot hold checkpoints/,
  );
});

test('a file where the directory should be is an error', async () => {
  const file = path.join(tempDir(), 'file');
  writeFileSync(file, 'x');
  await expect(new TaskCheckpoints(path.join(file, 'sub')).prepare()).rejects.toMatchObject({
    code: 'ENOTDIR',
  });
});

test('a volume that does not answer fails after PREPARE_TIMEOUT_MS with a StorageError (ETIMEDOUT)', async () => {
  jest.useFakeTimers();
  jest.spyOn(fs.promises, 'stat').mockImplementation(() => new Promise(() => undefined));
  const dir = path.join(tempDir(), 'hung');
  const prepared = new TaskCheckpoints(dir).prepare().catch((e: unknown) => e);
  await jest.advanceTimersByTimeAsync(PREPARE_TIMEOUT_MS);
  const error = await prepared;
  expect(error).toBeInstanceOf(StorageError);
  expect(isStorageError(error)).toBe(true);
  expect((error as StorageError).message).toBe(
    `cannot create a probe file in the checkpoint store ${dir}: no answer within ${PREPARE_TIMEOUT_MS / 1000} s (the volume does not answer: is its server reachable?)`,
  );
});
