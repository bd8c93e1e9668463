/**
 * The fingerprint of a task's input, stored beside its done marker and checkpoints: a task id
 * must name one task, and a second message with the same id but another input is a different task
 * that must neither be acked as done nor resume the first one's state.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';

/**
 * SHA-256 (hex) of the input as canonical JSON (object keys sorted), so the same value serialized
 * by another producer, with its keys in another order, has the same fingerprint.
 */
export function inputFingerprint(input: unknown): string {
  return createHash('sha256')
    .update(stringify(input) ?? 'undefined', 'utf8')
    .digest('hex');
}
