/**
 * "Too many open files" (EMFILE, ENFILE) is a problem of the process's resources, not of the
 * checkpoint store: store operations retry it after a short pause a bounded number of times, then
 * report a `FileLimitError` that says so, never a `StorageError` ("the checkpoint store is
 * unusable", exit 69).
 */
// The module object itself (not a namespace copy), so spies replace what the store calls.
import fs from 'node:fs';
import {
  FileLimitError,
  isFileLimitError,
  isStorageError,
  StorageError,
  storageFailure,
} from '../src/errors';
import { FILE_LIMIT_RETRY, retryOnFileLimit } from '../src/file-limits';
import { TaskCheckpoints } from '../src/store';
import { tempDirs } from './support/temp-dirs';

function errno(code: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: simulated, open '/x'`) as NodeJS.ErrnoException;
  error.code = code;
  return error;
}

const tempDir = tempDirs('agent-fd-');

afterEach(() => {
  jest.restoreAllMocks();
});

describe('classification', () => {
  test('EMFILE and ENFILE are file-limit errors, whether raw or as a cause; other codes are not', () => {
    expect(isFileLimitError(errno('EMFILE'))).toBe(true);
    expect(isFileLimitError(errno('ENFILE'))).toBe(true);
    expect(isFileLimitError(new Error('wrapped', { cause: errno('EMFILE') }))).toBe(true);
    for (const code of ['EROFS', 'ENOSPC', 'EACCES', 'ENOENT']) {
      expect(isFileLimitError(errno(code))).toBe(false);
    }
    expect(isFileLimitError(new Error('no code'))).toBe(false);
    expect(isFileLimitError(undefined)).toBe(false);
  });

  test('storageFailure: a file limit is a FileLimitError naming the process, anything else a StorageError', () => {
    const limit = storageFailure('write a checkpoint', '/checkpoints', errno('EMFILE'));
    expect(limit).toBeInstanceOf(FileLimitError);
    expect(isStorageError(limit)).toBe(false);
    expect(limit.message).toMatch(
      /^cannot write a checkpoint in \/checkpoints: the worker process has too many open files \(EMFILE\); this is not a problem of the checkpoint store: raise the open-file limit/,
    );
    expect(storageFailure('read', '/c', errno('ENFILE')).message).toMatch(
      /the host has too many open files \(ENFILE\)/,
    );
    const full = storageFailure('write a checkpoint', '/checkpoints', errno('ENOSPC'));
    expect(full).toBeInstanceOf(StorageError);
    expect(isStorageError(full)).toBe(true);
    expect(full.message).toMatch(/the volume is full/);
  });
});

describe('retryOnFileLimit', () => {
  const where = { operation: 'write a checkpoint', dir: '/checkpoints' };

  test('tries again after growing pauses and returns once the descriptors are back', async () => {
    const pauses: number[] = [];
    let calls = 0;
    const value = await retryOnFileLimit(
      () => {
        calls++;
        if (calls < 3) throw errno('EMFILE');
        return 'done';
      },
      where,
      FILE_LIMIT_RETRY,
      async (ms) => {
        pauses.push(ms);
      },
    );
    expect(value).toBe('done');
    expect(calls).toBe(3);
    expect(pauses).toEqual([FILE_LIMIT_RETRY.firstDelayMs, FILE_LIMIT_RETRY.firstDelayMs * 2]);
  });

  test('gives up after the bounded tries with a FileLimitError that says how often it tried', async () => {
    let calls = 0;
    const error = await retryOnFileLimit(
      () => {
        calls++;
        throw storageFailure('take a lease', '/checkpoints', errno('EMFILE'));
      },
      where,
      { tries: 3, firstDelayMs: 1 },
    ).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(error).toBeInstanceOf(FileLimitError);
    expect((error as FileLimitError).message).toMatch(
      /^cannot take a lease in \/checkpoints: the worker process has too many open files \(EMFILE\), still after 3 tries/,
    );
    expect(isStorageError(error)).toBe(false);
  });

  test('other errors are not retried', async () => {
    let calls = 0;
    await expect(
      retryOnFileLimit(() => {
        calls++;
        throw errno('EROFS');
      }, where),
    ).rejects.toMatchObject({ code: 'EROFS' });
    expect(calls).toBe(1);
  });
});

describe('TaskCheckpoints under a file limit', () => {
  test('a checkpoint write that meets EMFILE twice succeeds on its third try', async () => {
    const store = new TaskCheckpoints(tempDir());
    await store.prepare();
    const open = fs.promises.open;
    let failures = 0;
    jest.spyOn(fs.promises, 'open').mockImplementation(((...args: Parameters<typeof open>) => {
      if (failures < 2) {
        failures++;
        return Promise.reject(errno('EMFILE'));
      }
      return open(...args);
    }) as typeof open);
    await store.writeCheckpoint('t-1', { step: 1 });
    expect(failures).toBe(2);
    jest.restoreAllMocks();
    expect(await store.readCheckpoint('t-1')).toEqual({ state: { step: 1 } });
  });

  test('a lease that keeps meeting EMFILE fails with FileLimitError, not StorageError', async () => {
    // A regular file: a lease as a symbolic link opens no descriptor, so it never meets EMFILE.
    const store = new TaskCheckpoints(tempDir(), { smallRecords: 'file' });
    await store.prepare();
    jest.spyOn(fs.promises, 'open').mockRejectedValue(errno('EMFILE'));
    const error = await store.acquireLease('t-2', 'me', 10_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileLimitError);
    expect(isStorageError(error)).toBe(false);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^cannot take a lease in ${store.dir}: .*too many open files \\(EMFILE\\), still after ${FILE_LIMIT_RETRY.tries} tries`,
      ),
    );
  });

  test('a read-only store is still a StorageError, at once', async () => {
    const store = new TaskCheckpoints(tempDir());
    await store.prepare();
    const spy = jest.spyOn(fs.promises, 'open').mockRejectedValue(errno('EROFS'));
    const error = await store.writeCheckpoint('t-3', { step: 1 }).catch((e: unknown) => e);
    expect(isStorageError(error)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(1);
  });
});
