export { type BatchTask, BatchTasks } from './batch-tasks';
export { type TaskConfigMap, taskConfigMaps } from './task-config-maps';
export {
  DEFAULT_TASK_CONFIGMAP_BYTES,
  dataBytes,
  dataEntryBytes,
  goJsonStringBytes,
  MAX_TASK_CONFIGMAP_BYTES,
  packShards,
  renderShards,
  type TaskShard,
} from './task-shards';
