import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * The container's memory use against its limit, so the worker can checkpoint before the OOM
 * killer strikes (an OOM kill is SIGKILL: no signal handler runs, DESIGN fact 3).
 */
export interface MemorySample {
  readonly usedBytes: number;
  readonly limitBytes: number;
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
 * Reads cgroup v2 (`memory.max`, `memory.current`), else cgroup v1
 * (`memory/memory.limit_in_bytes`, `memory/memory.usage_in_bytes`), else
 * `process.constrainedMemory()` with the process RSS.
 */
export function cgroupMemorySource(root = '/sys/fs/cgroup'): MemorySource {
  return async () => {
    const v2Limit = parseBytes(await readText(path.join(root, 'memory.max')));
    const v2Used = parseBytes(await readText(path.join(root, 'memory.current')));
    if (v2Limit !== undefined && v2Used !== undefined) {
      return { usedBytes: v2Used, limitBytes: v2Limit };
    }
    const v1Limit = parseBytes(await readText(path.join(root, 'memory', 'memory.limit_in_bytes')));
    const v1Used = parseBytes(await readText(path.join(root, 'memory', 'memory.usage_in_bytes')));
    if (v1Limit !== undefined && v1Used !== undefined) {
      return { usedBytes: v1Used, limitBytes: v1Limit };
    }
    const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
    const limit = parseBytes(constrained === undefined ? undefined : String(constrained));
    return limit === undefined ? undefined : { usedBytes: process.memoryUsage.rss(), limitBytes: limit };
  };
}

/** True when the sample is at or above `fraction` of the limit. */
export function memoryHigh(sample: MemorySample | undefined, fraction: number): boolean {
  return sample !== undefined && sample.usedBytes >= sample.limitBytes * fraction;
}
