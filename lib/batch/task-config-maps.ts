import type { TaskMessage } from '@agent-fleet/contract';
import type { Construct } from 'constructs';
import { invalid } from '../internal/validation';
import { packShards, renderShards, type TaskShard } from './task-shards';

/** A ConfigMap of a static batch: its name and data (shard file name → JSON Lines). */
export interface TaskConfigMap {
  readonly name: string;
  readonly data: Record<string, string>;
  /** The Job indexes whose shard files it holds. */
  readonly indexes: readonly number[];
}

/**
 * The shards of a static batch and the ConfigMaps that carry them: as few as the byte budget allows,
 * named `<job>-tasks` when one suffices, else `<job>-tasks-0`, `<job>-tasks-1`, …, each holding a
 * contiguous range of indexes. A shard that fits no ConfigMap on its own is a synth-time error.
 */
export function taskConfigMaps(
  scope: Construct,
  jobName: string,
  tasks: readonly TaskMessage[],
  tasksPerIndex: number,
  budget: number,
): { shards: TaskShard[]; configMaps: TaskConfigMap[] } {
  const shards = renderShards(tasks, tasksPerIndex);
  const packed = packShards(shards, budget);
  if ('tooLarge' in packed) {
    const { index, fileName, bytes } = packed.tooLarge;
    invalid(
      scope,
      'tasks',
      `shard ${index} (${fileName}, ${bytes} bytes as JSON)`,
      `does not fit one ConfigMap under maxTaskConfigMapBytes (${budget} bytes)`,
      tasksPerIndex > 1
        ? `lower tasksPerIndex (now ${tasksPerIndex}) so each shard holds fewer tasks, raise maxTaskConfigMapBytes (up to 1000000 with server-side apply), or store large inputs elsewhere (object storage) and pass references in the tasks`
        : 'raise maxTaskConfigMapBytes (up to 1000000 with server-side apply), or store large inputs elsewhere (object storage) and pass references in the tasks',
    );
  }
  const single = packed.groups.length === 1;
  const configMaps = packed.groups.map((group, k) => ({
    name: single ? `${jobName}-tasks` : `${jobName}-tasks-${k}`,
    data: Object.fromEntries(group.map((s) => [s.fileName, s.content])),
    indexes: group.map((s) => s.index),
  }));
  return { shards, configMaps };
}
