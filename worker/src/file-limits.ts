import { FileLimitError, isFileLimitError } from './errors';

/**
 * `EMFILE`/`ENFILE` mean the process (or the host) has too many files open right now, often for a
 * moment (a burst of concurrent checkpoints, sockets being closed). Such an operation is worth
 * trying again after a short pause; other errors are not retried here.
 */
export interface FileLimitRetry {
  /** Tries in all, the first included. */
  readonly tries: number;
  /** Pause after the first failure; doubles after each further one. */
  readonly firstDelayMs: number;
}

/** 5 tries over about 0.75 s. */
export const FILE_LIMIT_RETRY: FileLimitRetry = { tries: 5, firstDelayMs: 50 };

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn`, trying again while it fails with `EMFILE`/`ENFILE`. When the tries are used up,
 * throws a `FileLimitError` naming `operation`, `dir` and the number of tries (not a
 * `StorageError`: the store is not at fault).
 */
export async function retryOnFileLimit<T>(
  fn: () => Promise<T> | T,
  where: { readonly operation: string; readonly dir: string },
  policy: FileLimitRetry = FILE_LIMIT_RETRY,
  sleep: (ms: number) => Promise<void> = pause,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isFileLimitError(error)) {
        throw error;
      }
      if (attempt >= policy.tries) {
        const inner = error instanceof FileLimitError ? error : undefined;
        throw new FileLimitError(
          inner?.operation ?? where.operation,
          inner?.dir ?? where.dir,
          inner?.cause ?? error,
          attempt,
        );
      }
      await sleep(policy.firstDelayMs * 2 ** (attempt - 1));
    }
  }
}
