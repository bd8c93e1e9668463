import type { PlanFlags } from '../../src/plan/command';

/**
 * What AgentScaledJob renders for trigger value `v`, as plan flags: strategy accurate over amqp,
 * pendingPodConditions [Ready], AGENT_CONCURRENCY = AGENT_MAX_TASKS = v, polls every 30 s, idle
 * exit 30 s; tasks of 1–3 min on pods that start in 20 s.
 */
export function constructFlags(v: number, extra: PlanFlags = {}): PlanFlags {
  return {
    value: String(v),
    concurrency: String(v),
    maxTasks: String(v),
    strategy: 'accurate',
    protocol: 'amqp',
    pendingPodConditions: 'Ready',
    pollingInterval: '30',
    idleExit: '30',
    taskDuration: 'uniform:1m-3m',
    startup: '20s',
    ...extra,
  };
}
