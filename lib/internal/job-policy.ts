import { ExitCode } from '@agent-fleet/contract';
import type { k8s } from 'cdk8s-plus-30';

/** Name of the agent container; podFailurePolicy exit-code rules are scoped to it. */
export const AGENT_CONTAINER = 'agent';

/**
 * The Job-level retry policy every agent Job carries (AgentJob and the Jobs a ScaledJob creates),
 * turning the worker's exit codes into decisions:
 *
 * - pods with the `DisruptionTarget` condition (eviction, preemption, node drain) are ignored:
 *   the agent checkpointed and its task was requeued, so a drain must not spend the retry budget;
 * - the permanent-failure code fails the index (with per-index limits) or the Job: retrying a
 *   task that can never succeed only burns LLM tokens;
 * - the configuration-error code fails the Job: every pod would fail the same way;
 * - anything else (interrupted, dependency unreachable, an OOM kill's 137) counts against the
 *   backoff limit and is retried.
 *
 * A podFailurePolicy requires `restartPolicy: Never` and `podReplacementPolicy: Failed`; the latter
 * also keeps a replacement from starting while the old pod is still terminating.
 */
export function agentPodFailurePolicy(perIndex: boolean): k8s.PodFailurePolicy {
  return {
    rules: [
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      {
        action: perIndex ? 'FailIndex' : 'FailJob',
        onExitCodes: { containerName: AGENT_CONTAINER, operator: 'In', values: [ExitCode.permanentFailure] },
      },
      {
        action: 'FailJob',
        onExitCodes: { containerName: AGENT_CONTAINER, operator: 'In', values: [ExitCode.configError] },
      },
    ],
  };
}

/** Pod replacement policy required alongside a podFailurePolicy. */
export const POD_REPLACEMENT_POLICY = 'Failed';
