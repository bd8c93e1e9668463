/**
 * The rules a queue name must follow, checked by the constructs at synth time and by the worker at
 * startup with the same words.
 */
import { Defaults } from './contract';

/** Longest AMQP 0-9-1 short string (queue names, `messageId`): 255 bytes of UTF-8. */
export const MAX_SHORTSTR_BYTES = 255;

/** Prefix the broker reserves for its own queues and exchanges. */
export const RESERVED_QUEUE_PREFIX = 'amq.';

/** A broken rule: what is wrong with the value, and how to fix it. */
export interface RuleViolation {
  /** What is wrong, phrased to follow the value ("is longer than …"). */
  readonly problem: string;
  /** What to do instead. */
  readonly fix: string;
}

/**
 * Why `name` cannot name a task or result queue, or undefined when it can: empty, longer than
 * {@link MAX_SHORTSTR_BYTES} bytes, or starting with the broker's reserved `amq.` prefix.
 */
export function queueNameViolation(name: string): RuleViolation | undefined {
  const bytes = utf8Length(name);
  if (bytes === 0) {
    return { problem: 'is empty', fix: `name the queue, e.g. "${Defaults.taskQueueName}"` };
  }
  if (bytes > MAX_SHORTSTR_BYTES) {
    return {
      problem: `is ${bytes} bytes long, over the AMQP limit of ${MAX_SHORTSTR_BYTES}`,
      fix: 'use a shorter queue name',
    };
  }
  if (name.startsWith(RESERVED_QUEUE_PREFIX)) {
    return {
      problem: `starts with "${RESERVED_QUEUE_PREFIX}", a prefix the broker reserves`,
      fix: `use another name, e.g. "${Defaults.taskQueueName}"`,
    };
  }
  return undefined;
}

/**
 * Why the result queue cannot be `resultQueueName` given the task queue, or undefined: a worker
 * whose results go to its own task queue would consume them as tasks.
 */
export function resultQueueViolation(
  taskQueueName: string,
  resultQueueName: string,
): RuleViolation | undefined {
  if (taskQueueName !== resultQueueName) {
    return undefined;
  }
  return {
    problem: 'names the task queue too, so agents would consume their own results',
    fix: `give results their own queue, e.g. "${taskQueueName}-results"`,
  };
}

/** Bytes of `text` in UTF-8, the length AMQP short strings are limited by. */
export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
