/**
 * Pure arithmetic of a static batch: tasks → shard files (JSON Lines, the contract's shard names) →
 * ConfigMaps under a byte budget. No constructs here, so the packing is tested with generated inputs.
 */
import { shardCountFor, shardFileName, shardSlice, type TaskMessage } from '@agent-fleet/contract';

/**
 * The API server refuses a ConfigMap whose data exceeds 1 MiB (1,048,576 bytes). The budget is
 * counted on the data's JSON encoding, which is never smaller than the raw bytes, and this ceiling
 * leaves room for the object's metadata.
 */
export const MAX_TASK_CONFIGMAP_BYTES = 1_000_000;

/**
 * Default budget of one ConfigMap: 200 KiB of `data` as JSON. Client-side `kubectl apply` copies the
 * whole object as JSON into the annotation `kubectl.kubernetes.io/last-applied-configuration`, and the
 * API server refuses more than 256 KiB of annotations per object; 200 KiB leaves room for the rest of
 * the object. With server-side apply (or Argo CD's `ServerSideApply=true`) the budget can be raised up
 * to {@link MAX_TASK_CONFIGMAP_BYTES}.
 */
export const DEFAULT_TASK_CONFIGMAP_BYTES = 200 * 1024;

/** One shard file: the tasks Job index `index` runs. */
export interface TaskShard {
  readonly index: number;
  /** The file (and ConfigMap key), `shardFileName(index)`. */
  readonly fileName: string;
  /** JSON Lines: one `{ "id", "input" }` per line, each line ending in "\n". */
  readonly content: string;
  /** What the entry adds to a ConfigMap's `data` as JSON (see {@link dataEntryBytes}). */
  readonly bytes: number;
}

/** The shards of `tasks`, `tasksPerIndex` tasks each, in order (the last may hold fewer). */
export function renderShards(tasks: readonly TaskMessage[], tasksPerIndex: number): TaskShard[] {
  const count = shardCountFor(tasks.length, tasksPerIndex);
  return Array.from({ length: count }, (_, index) => {
    const content = shardSlice(tasks, index, tasksPerIndex)
      .map((t) => `${JSON.stringify({ id: t.id, input: t.input })}\n`)
      .join('');
    const fileName = shardFileName(index);
    return { index, fileName, content, bytes: dataEntryBytes(fileName, content) };
  });
}

/**
 * Bytes of `text` as a JSON string the way Go's encoder writes it (kubectl and the API server):
 * UTF-8, quotes and control characters escaped as JSON.stringify does, and `<`, `>`, `&`, U+2028 and
 * U+2029 written as `\uXXXX` (six bytes), which JSON.stringify leaves alone.
 */
export function goJsonStringBytes(text: string): number {
  let extra = 0;
  for (const ch of text) {
    if (ch === '<' || ch === '>' || ch === '&') extra += 5;
    else if (ch === '\u2028' || ch === '\u2029') extra += 3;
  }
  return Buffer.byteLength(JSON.stringify(text), 'utf8') + extra;
}

/** What one `"key": "value",` entry adds to a ConfigMap's `data` as JSON. */
export function dataEntryBytes(key: string, value: string): number {
  return goJsonStringBytes(key) + 1 + goJsonStringBytes(value) + 1;
}

/** Bytes of a `data` object made of `shards`, as JSON (entries plus the braces). */
export function dataBytes(shards: readonly TaskShard[]): number {
  return 2 + shards.reduce((sum, s) => sum + s.bytes, 0);
}

/**
 * Splits the shards, in index order, into groups whose `data` fits `budget` bytes: each group is the
 * next run of consecutive shards that fits, so ConfigMap *k* holds a contiguous range of indexes.
 * Returns the first shard that cannot fit even alone, instead of groups, when there is one.
 */
export function packShards(
  shards: readonly TaskShard[],
  budget: number,
): { readonly groups: TaskShard[][] } | { readonly tooLarge: TaskShard } {
  const groups: TaskShard[][] = [];
  let current: TaskShard[] = [];
  let size = 2;
  for (const shard of shards) {
    if (2 + shard.bytes > budget) return { tooLarge: shard };
    if (current.length > 0 && size + shard.bytes > budget) {
      groups.push(current);
      current = [];
      size = 2;
    }
    current.push(shard);
    size += shard.bytes;
  }
  if (current.length > 0) groups.push(current);
  return { groups };
}
