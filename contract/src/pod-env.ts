/**
 * Variables the constructs write into an agent pod beyond the worker's own settings ({@link Env}):
 * what the agent's handler reads to reach its LLM, and how the kubelet restarts the worker, which
 * decides what the worker may do with its exit codes.
 */
import { Env } from './contract';
import type { RuleViolation } from './queue-names';

/**
 * Read by the agent's handler code, not by the worker. The constructs set them when an agent
 * workload is wired to an in-cluster model server; otherwise users set them in `env`.
 */
export const HandlerEnv = {
  /** Base URL of an OpenAI-compatible API, ending in `/v1`, e.g. `http://llm.agents.svc:8000/v1`. */
  LLM_BASE_URL: 'LLM_BASE_URL',
  /** Model name to put in requests: the name the server serves the model under. */
  LLM_MODEL: 'LLM_MODEL',
} as const;

/** Path under which an OpenAI-compatible server answers (`/v1/chat/completions`, `/v1/models`). */
export const OPENAI_API_PATH = '/v1';

/** Read by the worker: how the pod restarts it. */
export const PodEnv = {
  /**
   * The pod's `restartPolicy`: `Never` in Jobs (the Job's podFailurePolicy reads the exit code),
   * `Always` in a Deployment (the kubelet restarts the container in place whatever the code, with a
   * back-off that doubles from 10 s to 5 min while restarts follow each other). Unset means `Never`.
   */
  AGENT_RESTART_POLICY: 'AGENT_RESTART_POLICY',
} as const;

/** Values of {@link PodEnv.AGENT_RESTART_POLICY}. */
export const RestartPolicies = {
  never: 'Never',
  always: 'Always',
} as const;

export type RestartPolicy = (typeof RestartPolicies)[keyof typeof RestartPolicies];

/**
 * Why a worker cannot run under `restartPolicy` with these limits, or undefined when it can. Under
 * `Always` a worker that exits 0 because it is done (after `AGENT_MAX_TASKS` tasks, or idle for
 * `AGENT_IDLE_EXIT_SECONDS`) is restarted at once, and again and again into the kubelet's
 * back-off: a long-running worker takes tasks until it is told to stop, so both must be 0.
 */
export function restartPolicyViolation(
  restartPolicy: string,
  maxTasks: number,
  idleExitSeconds: number,
): RuleViolation | undefined {
  if (restartPolicy !== RestartPolicies.never && restartPolicy !== RestartPolicies.always) {
    return {
      problem: `is not ${RestartPolicies.never} or ${RestartPolicies.always}`,
      fix: `set ${PodEnv.AGENT_RESTART_POLICY} to the pod's restartPolicy, or leave it unset for ${RestartPolicies.never}`,
    };
  }
  if (restartPolicy === RestartPolicies.never) return undefined;
  const done = [
    maxTasks !== 0 && `${Env.AGENT_MAX_TASKS} is ${maxTasks}`,
    idleExitSeconds !== 0 && `${Env.AGENT_IDLE_EXIT_SECONDS} is ${idleExitSeconds}`,
  ].filter((d): d is string => typeof d === 'string');
  if (done.length === 0) return undefined;
  return {
    problem:
      `is ${RestartPolicies.always} while ${done.join(' and ')}: the worker would exit 0 when done and ` +
      'the kubelet would restart it at once, into its crash-loop back-off',
    fix: `set ${Env.AGENT_MAX_TASKS} and ${Env.AGENT_IDLE_EXIT_SECONDS} to 0 for a long-running pool, or run the agents as Jobs`,
  };
}
