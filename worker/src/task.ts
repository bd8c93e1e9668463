/**
 * Pure functions over one delivery: parse the task, count its attempts, decide what a failure
 * means. No I/O here, so they are unit-tested with generated inputs, and issue 6 (delays, limits,
 * breakers) extends `decideFailure` without touching the loop.
 */

import { type DeadLetterReason, DeadLetterReasons, Headers, type TaskMessage } from '@agent-fleet/contract';
import { backoffDelayMs, type RetryPolicy } from './backoff';
import { errorText, isPermanentError } from './errors';

/** Longest task id accepted; ids name files (hashed) and AMQP `messageId`s (short strings). */
export const MAX_TASK_ID_LENGTH = 255;

export type ParsedTask =
  | { readonly ok: true; readonly task: TaskMessage }
  | {
      readonly ok: false;
      readonly reason: DeadLetterReason;
      readonly detail: string;
      /** The task id when one could still be found (body `id` or AMQP `messageId`), for the failed result. */
      readonly id: string | undefined;
    };

function validId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TASK_ID_LENGTH;
}

/**
 * Parses a task body: JSON `{ "id": string, "input": any }`, with the AMQP `messageId` as the
 * fallback id. Never throws.
 */
export function parseTask(content: Buffer | string, messageId?: unknown): ParsedTask {
  const fallbackId = validId(messageId) ? messageId : undefined;
  let body: unknown;
  try {
    body = JSON.parse(typeof content === 'string' ? content : content.toString('utf8'));
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
  const id = record.id === undefined ? fallbackId : record.id;
  if (!validId(id)) {
    return {
      ok: false,
      reason: DeadLetterReasons.invalidTask,
      detail:
        record.id === undefined
          ? 'task has no "id" and the message no messageId'
          : `task "id" must be a string of 1..${MAX_TASK_ID_LENGTH} characters`,
      id: fallbackId,
    };
  }
  if (!('input' in record)) {
    return { ok: false, reason: DeadLetterReasons.invalidTask, detail: 'task has no "input"', id };
  }
  return { ok: true, task: { id, input: record.input } };
}

function count(value: unknown): number {
  const n = typeof value === 'bigint' ? Number(value) : typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * Which delivery of the task this is, 1-based: attempts counted by workers that re-published the
 * task (`Headers.attempts`, issue 6) plus the broker's redeliveries of this copy (quorum queues
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
  /** Delayed retries; without one a retryable failure is requeued at once (issue 5 behaviour). */
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
