import { promises as fs } from 'node:fs';

/**
 * fsync of a directory with group commit. A rename is durable once an fsync of its directory
 * *began* after the rename returned. Concurrent durable writes to one directory (checkpoints of
 * several tasks) therefore share fsyncs: a request joins the next fsync to begin, and while one
 * runs every request arriving meanwhile waits for the one after it, which covers them all. With N
 * writers at once that is about two fsyncs instead of N, each a round trip on a network volume,
 * and no write resolves before an fsync that covers it.
 */
class DirectorySync {
  private running = false;
  private waiting: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];

  constructor(
    private readonly dir: string,
    private readonly onIdle: () => void,
  ) {}

  request(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.running) {
        void this.run();
      }
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      // Everyone waiting now called in after their rename: one fsync beginning now covers them.
      const batch = this.waiting;
      this.waiting = [];
      try {
        await fsyncDirectory(this.dir);
        for (const waiter of batch) waiter.resolve();
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
    }
    this.running = false;
    this.onIdle();
  }
}

/** Only directories with an fsync under way are kept, so the map never outgrows the writers. */
const syncs = new Map<string, DirectorySync>();

/** Resolves once an fsync of `dir` that began after this call completed (shared with concurrent callers). */
export function syncDirectory(dir: string): Promise<void> {
  let sync = syncs.get(dir);
  if (sync === undefined) {
    const created = new DirectorySync(dir, () => {
      if (syncs.get(dir) === created) syncs.delete(dir);
    });
    syncs.set(dir, created);
    sync = created;
  }
  return sync.request();
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems refuse fsync on a directory (EINVAL/EISDIR); the rename is then as durable as they get.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF') {
      throw error;
    }
  } finally {
    await handle.close();
  }
}
