/**
 * Real Prometheus tools for the tests, from Debian's `prometheus` package: `promtool` (rule checks
 * and rule unit tests) and the `prometheus` server itself (a throwaway one on a free loopback port,
 * its TSDB in a temp directory).
 *
 * Each binary is used from PATH when installed; otherwise taken from a cache directory, filled on
 * first use by downloading the package with `apt-get download` (after `apt-get update` when the
 * package lists are missing and we are root) and extracting only `usr/bin/promtool` and
 * `usr/bin/prometheus` with `dpkg-deb`. Both are static Go binaries needing only libc, so this skips
 * the package's dependencies (JavaScript libraries for the web UI), its system user and its
 * service, which `apt-get install` would add (96 MB installed). On a fresh machine it takes a few
 * seconds: one download, plus `apt-get update` when the lists are empty. The server runs without
 * the web UI's assets; the HTTP API, which the tests use, needs none.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports';
import { waitFor } from './wait';

const CACHE_DIR = join(__dirname, '..', 'node_modules', '.cache', 'agent-fleet', 'prometheus');

/** The binaries of Debian's `prometheus` package the tests use. */
export type PrometheusBinary = 'promtool' | 'prometheus';

const resolved = new Map<PrometheusBinary, string>();

/** Path of a working `promtool` or `prometheus`; downloads the package on first use (see above). */
export function prometheusBinary(name: PrometheusBinary): string {
  const known = resolved.get(name);
  if (known) return known;
  const onPath = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  let path: string;
  if (onPath.status === 0 && onPath.stdout.trim()) {
    path = onPath.stdout.trim();
  } else {
    path = join(CACHE_DIR, 'usr', 'bin', name);
    if (!existsSync(path)) extractFromDebianPackage();
  }
  execFileSync(path, ['--version'], { stdio: 'pipe' });
  resolved.set(name, path);
  return path;
}

function extractFromDebianPackage(): void {
  const work = mkdtempSync(join(tmpdir(), 'prometheus-deb-'));
  try {
    const download = () => spawnSync('apt-get', ['download', 'prometheus'], { cwd: work, encoding: 'utf8' });
    let result = download();
    if (result.status !== 0 && process.getuid?.() === 0) {
      // Fresh machines (containers) ship without package lists.
      execFileSync('apt-get', ['update'], { stdio: 'pipe' });
      result = download();
    }
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (result.status !== 0 || !deb) {
      throw new Error(
        `promtool / prometheus are not on PATH and "apt-get download prometheus" failed (${result.error?.message ?? result.stderr}). ` +
          'Install them (Debian/Ubuntu: apt-get install prometheus) or put both on PATH.',
      );
    }
    const extracted = join(work, 'root');
    mkdirSync(extracted);
    execFileSync(
      'sh',
      [
        '-c',
        'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./usr/bin/promtool ./usr/bin/prometheus',
        'sh',
        join(work, deb),
        extracted,
      ],
      { stdio: 'pipe' },
    );
    mkdirSync(join(CACHE_DIR, '..'), { recursive: true });
    rmSync(CACHE_DIR, { recursive: true, force: true });
    renameSync(extracted, CACHE_DIR);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// --- durations ----------------------------------------------------------------------------------

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
  y: 31_536_000,
};
const DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;

/** Seconds of a Prometheus duration (`90s`, `1h30m`, `500ms`). */
export function parsePromDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`not a Prometheus duration: ${text}`);
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) {
    seconds += Number(n) * UNIT_SECONDS[unit];
  }
  return seconds;
}

/** A Prometheus duration for `seconds`, in milliseconds when it is not whole. */
export function formatPromDuration(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * `text` (PromQL, or a `for:`) with every duration divided by `factor`: range selectors `[15m]`,
 * subquery ranges, `offset 15m`, and a bare duration (a `for:` value). The one transformation a test
 * applies to every rule to run an hour in a minute; numbers that are not durations stay as they are.
 */
export function shortenDurations(text: string, factor: number): string {
  const scale = (d: string) => formatPromDuration(parsePromDuration(d) / factor);
  if (DURATION.test(text)) return scale(text);
  return text
    .replace(/\[((?:\d+(?:ms|s|m|h|d|w|y))+)(:((?:\d+(?:ms|s|m|h|d|w|y))+)?)?\]/g, (_, range, colon, step) =>
      colon === undefined ? `[${scale(range)}]` : `[${scale(range)}:${step ? scale(step) : ''}]`,
    )
    .replace(/\boffset\s+((?:\d+(?:ms|s|m|h|d|w|y))+)/g, (_, d) => `offset ${scale(d)}`);
}

// --- a server ---------------------------------------------------------------------------------------

/** One sample of an instant query: its labels and value. */
export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

/** An alert as `/api/v1/alerts` lists it. */
export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly state: 'pending' | 'firing';
  readonly activeAt: string;
  readonly value: string;
}

export interface TestPrometheus {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The directory holding `prometheus.yml`; tests write rule and file_sd files next to it. */
  readonly dir: string;
  /** An instant query; throws with Prometheus's error when it fails. */
  query(expr: string): Promise<PromSample[]>;
  /** Pending and firing alerts. */
  alerts(): Promise<PromAlert[]>;
  /** Reloads the configuration and rule files (`--web.enable-lifecycle`). */
  reload(): Promise<void>;
  /** Its output so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** The configuration (`prometheus.yml`) as an object; file paths in it are relative to `dir`. */
  readonly config: (dir: string) => unknown;
  /** Files to write into the directory before starting (rule files, file_sd target files). */
  readonly files?: Record<string, string>;
  /** How long to wait for `/-/ready`. @default 60 s */
  readonly startTimeoutMs?: number;
}

/**
 * Starts `prometheus` on a free loopback port with its TSDB in a temp directory and the lifecycle
 * API on; resolves once it answers `/-/ready`.
 */
export async function startPrometheus(options: StartPrometheusOptions): Promise<TestPrometheus> {
  const binary = prometheusBinary('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'agent-fleet-prometheus-'));
  for (const [name, content] of Object.entries(options.files ?? {})) {
    writeFileSync(join(dir, name), content);
  }
  writeFileSync(join(dir, 'prometheus.yml'), stringify(options.config(dir)));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const out = openSync(join(dir, 'prometheus.log'), 'a');
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', out, out] },
  );
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const kill = () => child.kill('SIGKILL');
  process.on('exit', kill);
  const log = () =>
    existsSync(join(dir, 'prometheus.log')) ? readFileSync(join(dir, 'prometheus.log'), 'utf8') : '';

  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(`${url}${path}`, init);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };

  try {
    await waitFor(
      'Prometheus ready',
      async () => {
        if (exited) throw new Error(`prometheus exited at startup:\n${log().slice(-3000)}`);
        return fetch(`${url}/-/ready`).then(
          (r) => r.ok,
          () => false,
        );
      },
      options.startTimeoutMs ?? 60_000,
      100,
    );
  } catch (error) {
    kill();
    throw error;
  }

  let stopped: Promise<void> | undefined;
  return {
    url,
    dir,
    log,
    async query(expr) {
      const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async alerts() {
      return (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
    },
    async reload() {
      const response = await fetch(`${url}/-/reload`, { method: 'POST' });
      if (!response.ok) throw new Error(`Prometheus reload: ${response.status} ${await response.text()}`);
    },
    stop() {
      stopped ??= (async () => {
        if (!exited) {
          const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          const timer = setTimeout(kill, 10_000);
          await gone;
          clearTimeout(timer);
        }
        process.off('exit', kill);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
