/**
 * A file system with network-like latency for benchmarks: `latencyfs` (latency-fs.c), a FUSE
 * passthrough that sleeps a configured time in every request that is a round trip on NFS, EFS,
 * Filestore or CephFS (lookup, create, open, rename, unlink, fsync...; see the C file for the list),
 * backed by a tmpfs directory so that the configured delay is all it adds.
 *
 * NFS over loopback would need the kernel's NFS server, which containers rarely have; FUSE only
 * needs /dev/fuse and root. On first use this builds the daemon with gcc against libfuse3 (Debian's
 * `libfuse3-dev`, installed with apt-get when missing and we are root) into a cache directory, and
 * mounts without `fusermount3` (root mounts directly). `stop()` unmounts; so does process exit.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const SOURCE = join(__dirname, '..', '..', '..', 'testkit', 'latency-fs.c');
const SOURCE_FALLBACK = join(__dirname, 'latency-fs.c');
const CACHE_DIR = join(__dirname, '..', '..', '..', 'node_modules', '.cache', 'agent-fleet', 'latencyfs');
const STATS_FILE = '.latencyfs-stats';

function sourcePath(): string {
  if (existsSync(SOURCE)) return SOURCE;
  if (existsSync(SOURCE_FALLBACK)) return SOURCE_FALLBACK;
  throw new Error(`latency-fs.c not found next to ${__dirname}`);
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Why this machine cannot mount the latency file system, or undefined when it can. */
export function latencyFsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `FUSE mounts need Linux (this is ${process.platform})`;
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse (the kernel or container has no FUSE)';
  if (!isRoot()) return 'mounting without fusermount3 needs root';
  return undefined;
}

function hasFuseHeaders(): boolean {
  return spawnSync('pkg-config', ['--exists', 'fuse3']).status === 0;
}

function aptInstall(packages: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'pipe', env });
  if (install().status !== 0) {
    // Fresh machines (containers) ship without package lists.
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'pipe', env });
    const retry = install();
    if (retry.status !== 0) {
      throw new Error(
        `apt-get install ${packages.join(' ')} failed: ${retry.stderr.toString().slice(-2000)}`,
      );
    }
  }
}

/** Path of the built daemon; installs gcc / libfuse3-dev and compiles on first use. */
export function latencyFsBinary(): string {
  const source = readFileSync(sourcePath());
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const binary = join(CACHE_DIR, `latencyfs-${hash}`);
  if (existsSync(binary)) return binary;
  const missing = [
    ...(spawnSync('sh', ['-c', 'command -v gcc']).status === 0 ? [] : ['gcc']),
    ...(spawnSync('sh', ['-c', 'command -v pkg-config']).status === 0 ? [] : ['pkg-config']),
    ...(hasFuseHeaders() ? [] : ['libfuse3-dev']),
  ];
  if (missing.length > 0) {
    if (!isRoot()) throw new Error(`missing ${missing.join(', ')}: apt-get install -y ${missing.join(' ')}`);
    aptInstall(missing);
  }
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3']).toString().trim().split(/\s+/);
  mkdirSync(CACHE_DIR, { recursive: true });
  const temp = `${binary}.${process.pid}.tmp`;
  execFileSync('gcc', ['-O2', '-Wall', '-o', temp, sourcePath(), ...flags], { stdio: 'pipe' });
  renameSync(temp, binary);
  return binary;
}

/** Requests the daemon counted: all, the time it slept in them, and per request type. */
export interface LatencyFsStats {
  readonly requests: number;
  readonly delayedUs: number;
  readonly byType: Readonly<Record<string, number>>;
}

export interface LatencyFs {
  /** Where the file system is mounted: put the checkpoint directory under it. */
  readonly mountpoint: string;
  /** The configured delay of one round trip, in ms. */
  readonly delayMs: number;
  /** The daemon's counters (reading them costs no round trip). */
  stats(): LatencyFsStats;
  /** Unmounts, stops the daemon and removes its directories. Idempotent. */
  stop(): Promise<void>;
}

function parseStats(text: string): LatencyFsStats {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.split(' ');
    if (key && value !== undefined) values.set(key, Number(value));
  }
  const byType: Record<string, number> = {};
  for (const [key, value] of values) if (key !== 'requests' && key !== 'delayed_us') byType[key] = value;
  return { requests: values.get('requests') ?? 0, delayedUs: values.get('delayed_us') ?? 0, byType };
}

function isMounted(mountpoint: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === mountpoint);
}

/** Mounts a latency file system adding `delayMs` to every round trip. */
export async function mountLatencyFs(delayMs: number): Promise<LatencyFs> {
  const why = latencyFsUnavailable();
  if (why) throw new Error(`cannot mount the latency file system: ${why}`);
  const binary = latencyFsBinary();
  // Backed by tmpfs where there is one: the mount then adds the configured delay and nothing else.
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const backing = mkdtempSync(join(base, 'latencyfs-backing-'));
  const mountpoint = mkdtempSync(join(tmpdir(), 'latencyfs-mnt-'));
  const child: ChildProcess = spawn(binary, [backing, mountpoint, String(Math.round(delayMs * 1000))], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const unmountNow = () => {
    if (isMounted(mountpoint)) spawnSync('umount', ['-l', mountpoint], { stdio: 'ignore' });
    if (!exited) child.kill('SIGKILL');
  };
  process.on('exit', unmountNow);
  // A mount takes milliseconds; the margin is for a machine busy with other work.
  const deadline = performance.now() + 30_000;
  while (!isMounted(mountpoint) || !existsSync(join(mountpoint, STATS_FILE))) {
    if (exited || performance.now() > deadline) {
      unmountNow();
      process.off('exit', unmountNow);
      rmSync(mountpoint, { recursive: true, force: true });
      rmSync(backing, { recursive: true, force: true });
      throw new Error(`latencyfs did not mount ${mountpoint}: ${stderr || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  let stopped: Promise<void> | undefined;
  return {
    mountpoint,
    delayMs,
    stats: () => parseStats(readFileSync(join(mountpoint, STATS_FILE), 'utf8')),
    stop: () => {
      stopped ??= (async () => {
        // SIGTERM: libfuse leaves its loop and unmounts; umount -l covers a daemon that cannot.
        if (!exited) child.kill('SIGTERM');
        const timer = setTimeout(unmountNow, 5000);
        await gone;
        clearTimeout(timer);
        if (isMounted(mountpoint)) spawnSync('umount', ['-l', mountpoint], { stdio: 'ignore' });
        process.off('exit', unmountNow);
        rmSync(mountpoint, { recursive: true, force: true });
        rmSync(backing, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** One system call timed on the latency file system and on a reference directory. */
export interface AddedLatency {
  readonly call: string;
  /** Round trips the daemon counted per call. */
  readonly roundTrips: number;
  readonly latencyFsMs: number;
  readonly referenceMs: number;
  /** latencyFsMs − referenceMs. */
  readonly addedMs: number;
}

/**
 * Times `iterations` of each of stat (of a missing name), create (write and close a new file),
 * rename, fsync and unlink on the mount and in `reference` (e.g. a tmpfs directory), with the
 * daemon's count of round trips per call: added ms / round trips should be the configured delay.
 */
export function measureAddedLatency(fs: LatencyFs, reference: string, iterations = 50): AddedLatency[] {
  const calls: Array<{ call: string; run: (dir: string, i: number) => void }> = [
    {
      call: 'stat (missing name)',
      run: (dir, i) => {
        try {
          statSync(join(dir, `missing-${i}`));
        } catch {
          // expected
        }
      },
    },
    { call: 'create + write + close', run: (dir, i) => writeFileSync(join(dir, `f-${i}`), 'x'.repeat(200)) },
    { call: 'rename', run: (dir, i) => renameSync(join(dir, `f-${i}`), join(dir, `g-${i}`)) },
    {
      call: 'open + fsync + close',
      run: (dir, i) => {
        const fd = openSync(join(dir, `g-${i}`), 'r+');
        fsyncSync(fd);
        closeSync(fd);
      },
    },
    { call: 'unlink', run: (dir, i) => unlinkSync(join(dir, `g-${i}`)) },
  ];
  const on = mkdtempSync(join(fs.mountpoint, 'probe-'));
  const ref = mkdtempSync(join(reference, 'probe-'));
  try {
    return calls.map(({ call, run }) => {
      const time = (dir: string) => {
        const t0 = performance.now();
        for (let i = 0; i < iterations; i++) run(dir, i);
        return (performance.now() - t0) / iterations;
      };
      const referenceMs = time(ref);
      const before = fs.stats().requests;
      const latencyFsMs = time(on);
      const roundTrips = (fs.stats().requests - before) / iterations;
      return { call, roundTrips, latencyFsMs, referenceMs, addedMs: latencyFsMs - referenceMs };
    });
  } finally {
    rmSync(on, { recursive: true, force: true });
    rmSync(ref, { recursive: true, force: true });
  }
}

/** `parallel` creates at once: all in one directory, and each in a directory of its own. */
export interface DirectoryContention {
  readonly parallel: number;
  /** ms until all `parallel` files exist, one directory. */
  readonly oneDirectoryMs: number;
  /** The same, one directory per file. */
  readonly ownDirectoriesMs: number;
}

/**
 * The kernel serializes the changes of one directory (create, rename, unlink hold its lock), on
 * NFS as on FUSE: concurrent creates in one directory of a slow mount wait for each other, in
 * separate directories they overlap. `parallel` is kept within libuv's default thread pool (4).
 */
export async function measureDirectoryContention(
  fs: LatencyFs,
  parallel = 4,
  rounds = 10,
): Promise<DirectoryContention> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const base = mkdtempSync(join(fs.mountpoint, 'contention-'));
  try {
    const dirs = Array.from({ length: parallel }, (_, k) => join(base, `d${k}`));
    for (const dir of dirs) await mkdir(dir);
    const time = async (dirOf: (k: number) => string) => {
      const t0 = performance.now();
      for (let r = 0; r < rounds; r++) {
        await Promise.all(dirs.map((_, k) => writeFile(join(dirOf(k), `f-${r}-${k}`), 'x')));
      }
      return (performance.now() - t0) / rounds;
    };
    const oneDirectoryMs = await time(() => base);
    const ownDirectoriesMs = await time((k) => dirs[k]);
    return { parallel, oneDirectoryMs, ownDirectoriesMs };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}
