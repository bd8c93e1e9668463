/**
 * Pure functions over one delivery: parse the task, count its attempts, decide what a failure
 * means. No I/O here, so they are unit-tested with generated inputs, and retry policy (delays,
 * limits) changes in `decideFailure` without touching the loop.
 */

import {
  type DeadLetterReason,
  DeadLetterReasons,
  Headers,
  MAX_TASK_ID_BYTES,
  type TaskMessage,
  taskIdViolation,
} from '@agent-fleet/contract';
import { backoffDelayMs, type RetryPolicy } from './backoff';
import { errorText, isPermanentError } from './errors';

export { isWellFormedUnicode, MAX_TASK_ID_BYTES } from '@agent-fleet/contract';

/** `MAX_TASK_ID_BYTES` under its earlier name (the limit is in bytes, not characters). */
export const MAX_TASK_ID_LENGTH = MAX_TASK_ID_BYTES;

/** The UTF-8 byte-order mark some editors and tools put in front of a JSON file. */
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export type ParsedTask =
  | { readonly ok: true; readonly task: TaskMessage }
  | {
      readonly ok: false;
      readonly reason: DeadLetterReason;
      readonly detail: string;
      /**
       * The task id when a usable one could still be found (body `id` or AMQP `messageId`), for the
       * failed result. Never an id that breaks `taskIdProblem`: a result could not carry it.
       */
      readonly id: string | undefined;
    };

/** Why `value` cannot be a task id, or undefined when it can (the contract's rule). */
export function taskIdProblem(value: unknown): string | undefined {
  return taskIdViolation(value)?.problem;
}

function bodyText(content: Buffer | string): string {
  // One leading byte-order mark is dropped: JSON.parse refuses it, and a task saved by an editor
  // that writes one is still a valid task.
  if (typeof content === 'string') {
    return content.charCodeAt(0) === 0xfeff ? content.slice(1) : content;
  }
  const start = content.subarray(0, UTF8_BOM.length).equals(UTF8_BOM) ? UTF8_BOM.length : 0;
  return content.toString('utf8', start);
}

/**
 * Parses a task body: JSON `{ "id": string, "input": any }`, with the AMQP `messageId` as the
 * fallback id; one leading UTF-8 byte-order mark is ignored. An id must be a non-empty,
 * well-formed string of at most 255 bytes of UTF-8 (see `taskIdProblem`). Never throws.
 */
export function parseTask(content: Buffer | string, messageId?: unknown): ParsedTask {
  const messageIdProblem = messageId === undefined ? undefined : taskIdProblem(messageId);
  const fallbackId =
    messageId !== undefined && messageIdProblem === undefined ? (messageId as string) : undefined;
  let body: unknown;
  try {
    body = JSON.parse(bodyText(content));
  } catch (error) {
    return {
      ok: false,
      reason: DeadLetterReasons.invalidJson,
      detail: `body is not valid JSON: ${errorText(error)}`,
      id: fallbackId,
    };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return {
      ok: false,
      reason: DeadLetterReasons.invalidTask,
      detail: 'body is not a JSON object { "id": string, "input": any }',
      id: fallbackId,
    };
  }
  const record = body as Record<string, unknown>;
  if (record.id === undefined && fallbackId === undefined) {
    return {
      ok: false,
      reason: DeadLetterReasons.invalidTask,
      detail:
        messageId === undefined
          ? 'task has no "id" and the message no messageId'
          : `task has no "id", and its messageId ${messageIdProblem}`,
      id: undefined,
    };
  }
  const id = record.id === undefined ? fallbackId : record.id;
  const idProblem = taskIdProblem(id);
  if (idProblem !== undefined) {
    return {
      ok: false,
      reason: DeadLetterReasons.invalidTask,
      detail: `task "id" ${idProblem}`,
      id: fallbackId,
    };
  }
  if (!('input' in record)) {
    return {
      ok: false,
      reason: DeadLetterReasons.invalidTask,
      detail: 'task has no "input"',
      id: id as string,
    };
  }
  return { ok: true, task: { id: id as string, input: record.input } };
}

function count(value: unknown): number {
  const n = typeof value === 'bigint' ? Number(value) : typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * Which delivery of the task this is, 1-based: attempts counted by workers that re-published the
 * task (`Headers.attempts`) plus the broker's redeliveries of this copy (quorum queues
 * set `x-delivery-count` on every delivery after a requeue) plus this one.
 */
export function attemptOf(headers: Readonly<Record<string, unknown>> | undefined): number {
  return count(headers?.[Headers.attempts]) + count(headers?.['x-delivery-count']) + 1;
}

/** What to do with a delivery whose handler threw. */
export type FailureDecision =
  | { readonly action: 'requeue'; readonly why: string }
  /** Stopped by a shutdown, not by the task: goes back at once without spending an attempt. */
  | { readonly action: 'interrupted'; readonly why: string }
  | { readonly action: 'retry'; readonly why: string; readonly delayMs: number }
  | { readonly action: 'dead-letter'; readonly reason: DeadLetterReason; readonly detail: string };

export interface FailureInput {
  readonly error: unknown;
  readonly attempt: number;
  /** True when the worker is stopping (signal, lost broker): the error is most likely the abort. */
  readonly shuttingDown: boolean;
  /** Deliveries allowed per task; `attempt >= maxAttempts` dead-letters. @default - no limit */
  readonly maxAttempts?: number;
  /** Delayed retries; without one a retryable failure is requeued at once. */
  readonly retry?: RetryPolicy;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** Dead-letters a delivery that already reached the attempt limit, before running it (crash loops). */
export function exceededAttempts(attempt: number, maxAttempts: number): FailureDecision | undefined {
  if (attempt <= maxAttempts) {
    return undefined;
  }
  return {
    action: 'dead-letter',
    reason: DeadLetterReasons.maxAttempts,
    detail: `delivered ${attempt} times without finishing (limit ${maxAttempts}); the worker may have crashed on it`,
  };
}

/**
 * The failure policy, kept in one small pure function: a permanent error is dead-lettered at
 * once; a failure at the attempt limit is dead-lettered; other failures are retried after an
 * exponential, jittered delay (or requeued at once when no retry policy is given); a failure while
 * shutting down is an interruption (the error is most likely the abort): it goes back without
 * spending an attempt, so a node drain or a spot reclaim never dead-letters a healthy task.
 */
export function decideFailure(input: FailureInput): FailureDecision {
  if (isPermanentError(input.error)) {
    return {
      action: 'dead-letter',
      reason: DeadLetterReasons.permanentError,
      detail: errorText(input.error),
    };
  }
  if (input.shuttingDown) {
    return { action: 'interrupted', why: 'interrupted by shutdown' };
  }
  if (input.maxAttempts !== undefined && input.attempt >= input.maxAttempts) {
    return {
      action: 'dead-letter',
      reason: DeadLetterReasons.maxAttempts,
      detail: `failed ${input.attempt} of ${input.maxAttempts} attempts; last error: ${errorText(input.error)}`,
    };
  }
  const why = `retryable error: ${errorText(input.error)}`;
  if (input.retry === undefined) {
    return { action: 'requeue', why };
  }
  return { action: 'retry', why, delayMs: backoffDelayMs(input.attempt, input.retry, input.random) };
}
