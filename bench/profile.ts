/**
 * Where a process's time went, measured: a V8 CPU profile (`node --cpu-prof`) split by component,
 * and its idle time split into waiting with a file operation in flight (bench/fs-wait-preload.js)
 * and waiting for anything else. Used to explain, in figures, what the runtime adds per task and
 * at start over the hand-written baselines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: number[];
}

/** The `.cpuprofile` format Node writes: sample ids and µs deltas on CLOCK_MONOTONIC. */
interface CpuProfile {
  readonly nodes: ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: number[];
  readonly timeDeltas: number[];
}

/** Time a process spent, by component, in ms. */
export type TimeByComponent = Record<Component, number>;

/** The components of the table, in its order. */
export const COMPONENTS = [
  'loading modules',
  'broker client (amqplib)',
  'checkpoint store',
  'logging (pino)',
  'metrics (prom-client)',
  'runtime (other code)',
  'handler or baseline script',
  'Node.js core (no caller of ours)',
  'garbage collection',
  'V8 and native (outside JS)',
  'waiting (a file operation in flight)',
  'waiting (no file operation in flight)',
] as const;
export type Component = (typeof COMPONENTS)[number];

/** The component a script belongs to, or undefined for Node's own code and native frames. */
function componentOfUrl(url: string): Component | undefined {
  // The measuring preload's wrappers are transparent: their time is their caller's.
  if (url === '' || url.startsWith('node:') || url.endsWith('/fs-wait-preload.js')) return undefined;
  if (
    /\/node_modules\/(amqplib|@acuminous|buffer-more-ints|url-parse|querystringify|requires-port)\//.test(url)
  )
    return 'broker client (amqplib)';
  if (
    /\/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|@pinojs|on-exit-leak-free|quick-format-unescaped|atomic-sleep|safe-stable-stringify|real-require|process-warning|fast-redact)\//.test(
      url,
    )
  )
    return 'logging (pino)';
  if (/\/node_modules\/(prom-client|tdigest|bintrees)\//.test(url)) return 'metrics (prom-client)';
  if (/\/worker\/dist\/(store|directory-sync|file-limits)\.js$/.test(url)) return 'checkpoint store';
  if (/\/worker\/dist\/logger\.js$/.test(url)) return 'logging (pino)';
  if (/\/worker\/dist\/metrics\.js$/.test(url)) return 'metrics (prom-client)';
  if (/\/(worker|contract)\/dist\//.test(url) || /\/node_modules\/@agent-fleet\//.test(url))
    return 'runtime (other code)';
  if (/\/bench\//.test(url)) return 'handler or baseline script';
  return 'runtime (other code)';
}

const LOADER = /^node:internal\/modules\//;

/** Reads the one `.cpuprofile` Node wrote into `dir`. */
export function readProfile(dir: string): CpuProfile {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${dir}, found ${files.length}`);
  return JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as CpuProfile;
}

/** What bench/fs-wait-preload.js wrote: intervals [start, end, start, end, …] (µs), modules loaded. */
export function readFileWaits(file: string): { intervals: number[]; modules: number } {
  return JSON.parse(readFileSync(file, 'utf8')) as { intervals: number[]; modules: number };
}

/**
 * Splits the samples of `profile` taken in [fromUs, toUs] (CLOCK_MONOTONIC µs) by component, in ms.
 * A sample counts for the innermost frame of the stack that is not Node's own code; a stack where
 * code of a script called Node's module loader (a `require` at work) counts as loading modules;
 * idle samples count as waiting, with a file operation in flight when one of `fileWaits` covers
 * them.
 */
export function timeByComponent(
  profile: CpuProfile,
  fileWaits: readonly number[],
  fromUs: number,
  toUs: number,
): TimeByComponent {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const memo = new Map<number, Component>();
  const componentOf = (id: number): Component => {
    const known = memo.get(id);
    if (known) return known;
    const name = byId.get(id)?.callFrame.functionName;
    let found: Component | undefined;
    if (name === '(idle)') found = 'waiting (no file operation in flight)';
    else if (name === '(garbage collector)') found = 'garbage collection';
    else if (name === '(program)') found = 'V8 and native (outside JS)';
    else {
      let innermost: Component | undefined;
      let inLoader = false;
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const url = byId.get(at)?.callFrame.url ?? '';
        if (LOADER.test(url)) {
          inLoader = true;
          continue;
        }
        const component = componentOfUrl(url);
        // The loader below a frame of ours: a `require` at work. (The entry script itself runs
        // inside the loader too; its code counts as its own.)
        if (inLoader && component !== undefined) {
          found = 'loading modules';
          break;
        }
        innermost ??= component;
      }
      found ??= innermost ?? 'Node.js core (no caller of ours)';
    }
    memo.set(id, found);
    return found;
  };
  const totals = Object.fromEntries(COMPONENTS.map((c) => [c, 0])) as TimeByComponent;
  let wait = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const next = i + 1 < profile.samples.length ? t + profile.timeDeltas[i + 1] : profile.endTime;
    const from = Math.max(t, fromUs);
    const to = Math.min(next, toUs);
    if (to <= from) continue;
    let component = componentOf(profile.samples[i]);
    if (component === 'waiting (no file operation in flight)') {
      while (wait < fileWaits.length && fileWaits[wait + 1] < t) wait += 2;
      if (wait < fileWaits.length && fileWaits[wait] <= t) component = 'waiting (a file operation in flight)';
    }
    totals[component] += (to - from) / 1000;
  }
  return totals;
}
