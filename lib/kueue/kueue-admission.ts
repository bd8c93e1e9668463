import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { invalid } from '../internal/validation';
import type { PodResources } from '../workload';
import {
  type ILocalQueue,
  type IWorkloadPriorityClass,
  KUEUE_PRIORITY_CLASS_LABEL,
  KUEUE_QUEUE_NAME_LABEL,
  requireLocalQueueName,
} from './local-queue';

/**
 * Admission of a workload's Jobs through Kueue: the Jobs carry the LocalQueue's name (and the
 * priority class) as labels and are created suspended; Kueue unsuspends each one once its
 * ClusterQueue has quota for the pods' resource requests, sharing that quota fairly between the
 * LocalQueues (teams) that draw on it.
 */
export interface KueueAdmission {
  /** The LocalQueue the Jobs join: `new LocalQueue(...)` or `LocalQueue.fromLocalQueueName(...)`. */
  readonly queue: ILocalQueue;
  /**
   * The Kueue WorkloadPriorityClass of the Jobs: which pending Jobs are admitted first, and which
   * admitted ones may be preempted for them.
   * @default - no priority-class label: the Jobs get the priority of their pods' PriorityClass, or 0
   */
  readonly priorityClass?: IWorkloadPriorityClass;
}

/**
 * The labels that hand a Job to Kueue, after checking the admission against the workload: names
 * that are valid label values, the LocalQueue in the workload's namespace, and pods that request
 * CPU and memory (Kueue admits on requests, so a pod without them would take no quota at all).
 */
export function kueueJobLabels(
  scope: Construct,
  admission: KueueAdmission,
  podResources: PodResources,
): Record<string, string> {
  const queue = admission?.queue;
  if (typeof queue?.name !== 'string') {
    invalid(
      scope,
      'kueue.queue',
      queue,
      'is not a LocalQueue',
      'pass a LocalQueue construct or LocalQueue.fromLocalQueueName("team-queue")',
    );
  }
  const name = requireLocalQueueName(scope, 'kueue.queue.name', queue.name);
  const namespace = Chart.of(scope).namespace;
  if (queue.namespace !== undefined && queue.namespace !== namespace) {
    invalid(
      scope,
      'kueue.queue',
      `${queue.namespace}/${name}`,
      `is in namespace ${queue.namespace} while this workload runs in ${namespace ?? "the chart's unset namespace"}: ` +
        'Kueue looks the queue-name label up in the Job’s own namespace, so the Jobs would wait forever',
      "create the LocalQueue in a chart with the workload's namespace",
    );
  }
  const labels: Record<string, string> = { [KUEUE_QUEUE_NAME_LABEL]: name };
  if (admission.priorityClass !== undefined) {
    labels[KUEUE_PRIORITY_CLASS_LABEL] = requireLocalQueueName(
      scope,
      'kueue.priorityClass.name',
      admission.priorityClass.name,
    );
  }
  const requests = podResources.effective.requests;
  for (const resource of ['cpu', 'memory'] as const) {
    const amount = requests?.[resource]?.toNumber();
    if (amount === undefined || amount <= 0) {
      invalid(
        scope,
        `resources.requests.${resource}`,
        requests?.[resource]?.value,
        'is not set while kueue is: Kueue admits a Job on its pods’ resource requests, so a pod that requests ' +
          `no ${resource} takes none of the ClusterQueue's ${resource} quota and the quota bounds nothing`,
        `request the ${resource} one agent needs, e.g. requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(1) }`,
      );
    }
  }
  return labels;
}
