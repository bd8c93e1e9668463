/**
 * The broker objects every worker and tool derives from the task queue name, and the arguments
 * they are declared with. Redeclaring a queue with other arguments fails (406
 * PRECONDITION_FAILED), so whoever declares a queue first (the worker, `agent-fleet seed`, a
 * user's own producer) must use these.
 */

/** Names derived from the task queue name, so every worker and tool finds the same objects. */
export function deadLetterExchangeFor(taskQueueName: string): string {
  return `${taskQueueName}.dlx`;
}

export function deadLetterQueueFor(taskQueueName: string): string {
  return `${taskQueueName}.dead`;
}

/**
 * The broker-side retry queue holding tasks to retry after `delayMs` (queue TTL = `delayMs`; it
 * dead-letters expired messages back to the task queue). One queue per delay tier, so a short
 * delay never waits behind a long one (per-message TTLs expire only at the queue head).
 */
export function retryQueueFor(taskQueueName: string, delayMs: number): string {
  return `${taskQueueName}.retry.${delayMs}ms`;
}

/**
 * `x-delivery-limit` declared on the task queue: a broker-side backstop for messages that kill the
 * worker before it can count them (OOM, segfault). Declared explicitly so RabbitMQ 3.x (no default)
 * and 4.x (default 20) behave the same. Worker retries republish the task with a fresh delivery
 * count, so only consecutive crashes and shutdown requeues of one copy approach it.
 */
export const TASK_QUEUE_DELIVERY_LIMIT = 50;

/** Arguments of the task queue. Redeclaring a queue with other arguments fails (406 PRECONDITION_FAILED). */
export function taskQueueArguments(taskQueueName: string): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-dead-letter-exchange': deadLetterExchangeFor(taskQueueName),
    // At-least-once dead-lettering (DESIGN fact 9) needs reject-publish overflow.
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
    // Explicit, so RabbitMQ 3.x (no limit) and 4.x (default 20) behave alike; see TASK_QUEUE_DELIVERY_LIMIT.
    'x-delivery-limit': TASK_QUEUE_DELIVERY_LIMIT,
  };
}

/**
 * Arguments of one retry tier: messages wait `delayMs` at most (queue TTL; the per-message
 * expiration may be shorter), then the broker dead-letters them to the task queue through the
 * default exchange. Quorum queues with at-least-once dead-lettering (RabbitMQ 3.10+): a classic
 * queue dead-letters at most once, without confirms, so a task whose delay ran out while the task
 * queue had no leader (a broker restart) was dropped; the chaos suite caught exactly that.
 */
export function retryQueueArguments(taskQueueName: string, delayMs: number): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-message-ttl': delayMs,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': taskQueueName,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}
