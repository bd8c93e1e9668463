/**
 * How many tasks a worker holds at once, checked by the constructs at synth time and by the worker
 * at startup with the same words.
 */
import { Env } from './contract';
import type { RuleViolation } from './queue-names';

/**
 * Why a worker cannot hold `concurrency` tasks at once given its `maxTasks`, or undefined when it
 * can. `concurrency` must be a whole number of at least 1. When `maxTasks` limits the pod (> 0),
 * `concurrency` must not exceed it: the broker would hand the worker messages it may not start,
 * which it can only give back.
 */
export function concurrencyViolation(concurrency: number, maxTasks: number): RuleViolation | undefined {
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    return {
      problem: 'is not a whole number of at least 1',
      fix: `set ${Env.AGENT_CONCURRENCY} to the number of tasks one pod runs at once, e.g. 1`,
    };
  }
  if (maxTasks > 0 && concurrency > maxTasks) {
    return {
      problem: `exceeds ${Env.AGENT_MAX_TASKS} (${maxTasks}): the pod would hold tasks it may not start`,
      fix: `lower ${Env.AGENT_CONCURRENCY} to at most ${maxTasks}, or raise ${Env.AGENT_MAX_TASKS}`,
    };
  }
  return undefined;
}
