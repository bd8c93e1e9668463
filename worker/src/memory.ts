import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * The container's memory use against its limit, so the worker can checkpoint before the OOM
 * killer strikes (an OOM kill is SIGKILL: no signal handler runs, DESIGN fact 3).
 */
export interface MemorySample {
  /**
   * The working set (usage − inactive_file, at least 0): what the kubelet judges memory pressure
   * on. The raw usage when the cgroup's `memory.stat` is missing or unparsable.
   */
  readonly usedBytes: number;
  readonly limitBytes: number;
  /** The usage as the kernel reports it, page cache included (for logs). */
  readonly usageBytes?: number;
  /** The `inactive_file` taken off the usage; absent when `memory.stat` gave none (for logs). */
  readonly inactiveFileBytes?: number;
}

/** Where samples come from; injectable for tests. Resolves undefined when there is no limit. */
export type MemorySource = () => Promise<MemorySample | undefined>;

/** Limits at or above this mean "unlimited" (cgroup v1 writes a page-rounded 2^63 − 1). */
const UNLIMITED = 2 ** 60;

function parseBytes(text: string | undefined): number | undefined {
  const value = text?.trim();
  if (value === undefined || value === '' || value === 'max') {
    return undefined;
  }
  const n = Number(value);
  return Number.isFinite(n) && n > 0 && n < UNLIMITED ? n : undefined;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The first of `keys` that `memory.stat` (one `name value` pair a line) holds as a plain byte
 * count. Exact names only: `inactive_file` must not match `total_inactive_file`, nor
 * `workingset_refault_file` anything.
 */
function statBytes(text: string | undefined, keys: readonly string[]): number | undefined {
  if (text === undefined) {
    return undefined;
  }
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length === 2) {
      values.set(fields[0], fields[1]);
    }
  }
  for (const key of keys) {
    const value = values.get(key);
    if (value !== undefined && /^\d+$/.test(value)) {
      return Number(value);
    }
  }
  return undefined;
}

/**
 * The usage minus the page cache the kernel would drop before an OOM kill. Both cgroup usage
 * counters (v1 `memory.usage_in_bytes`, v2 `memory.current`) include page cache, so a handler that
 * merely wrote a large file would cross the mark with little memory of its own.
 */
async function workingSet(
  usageBytes: number,
  limitBytes: number,
  statFile: string,
  inactiveKeys: readonly string[],
): Promise<MemorySample> {
  const inactiveFileBytes = statBytes(await readText(statFile), inactiveKeys);
  if (inactiveFileBytes === undefined) {
    // cAdvisor also reports the raw usage as the working set when memory.stat lacks the key; the
    // page cache then counts against the mark (too early a checkpoint, never too late).
    return { usedBytes: usageBytes, limitBytes, usageBytes };
  }
  return {
    usedBytes: Math.max(0, usageBytes - inactiveFileBytes),
    limitBytes,
    usageBytes,
    inactiveFileBytes,
  };
}

/**
 * Reads cgroup v2 (`memory.max`, `memory.current`, `memory.stat`), else cgroup v1
 * (`memory/memory.limit_in_bytes`, `memory/memory.usage_in_bytes`, `memory/memory.stat`), else
 * `process.constrainedMemory()` with the process RSS.
 *
 * From cgroup files, `usedBytes` is the working set as the kubelet computes it: usage −
 * `inactive_file`, clamped at 0 (DESIGN fact 16). Source: cAdvisor's `setMemoryStats`
 * (github.com/google/cadvisor, container/libcontainer/handler.go) sets `WorkingSet` to
 * `Memory.Usage` minus `memory.stat`'s `inactive_file` on cgroup v2 or `total_inactive_file` on
 * v1, 0 when that exceeds the usage, and leaves the usage when the key is absent; the kubelet's
 * eviction signal `memory.available` is capacity − that working set, and
 * kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/ says it excludes
 * `inactive_file` because that memory is reclaimable under pressure (the script it links,
 * kubernetes.io/examples/admin/resource/memory-available.sh, does the same subtraction on v1).
 * On v1 this prefers `total_inactive_file` (this cgroup and its descendants, as the usage counts
 * them) and falls back to `inactive_file` (this cgroup alone). When `memory.stat` is missing or
 * holds no parsable value, `usedBytes` is the raw usage, as in cAdvisor.
 *
 * The RSS of the last fallback holds no page cache, so it needs no such correction.
 */
export function cgroupMemorySource(root = '/sys/fs/cgroup'): MemorySource {
  return async () => {
    const v2Limit = parseBytes(await readText(path.join(root, 'memory.max')));
    const v2Used = parseBytes(await readText(path.join(root, 'memory.current')));
    if (v2Limit !== undefined && v2Used !== undefined) {
      return workingSet(v2Used, v2Limit, path.join(root, 'memory.stat'), ['inactive_file']);
    }
    const v1 = path.join(root, 'memory');
    const v1Limit = parseBytes(await readText(path.join(v1, 'memory.limit_in_bytes')));
    const v1Used = parseBytes(await readText(path.join(v1, 'memory.usage_in_bytes')));
    if (v1Limit !== undefined && v1Used !== undefined) {
      return workingSet(v1Used, v1Limit, path.join(v1, 'memory.stat'), [
        'total_inactive_file',
        'inactive_file',
      ]);
    }
    const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
    const limit = parseBytes(constrained === undefined ? undefined : String(constrained));
    return limit === undefined ? undefined : { usedBytes: process.memoryUsage.rss(), limitBytes: limit };
  };
}

/** True when the sample (the working set, for cgroup samples) is at or above `fraction` of the limit. */
export function memoryHigh(sample: MemorySample | undefined, fraction: number): boolean {
  return sample !== undefined && sample.usedBytes >= sample.limitBytes * fraction;
}
