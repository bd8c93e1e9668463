/**
 * What may name a task: the rule the constructs check on a static batch at synth time and the
 * worker checks on every task it reads, from a queue or a shard file.
 */
import { MAX_SHORTSTR_BYTES, type RuleViolation, utf8Length } from './queue-names';

/**
 * Longest task id accepted, in bytes of UTF-8: ids name files (hashed) and travel as the AMQP
 * `messageId` of results, a short string of at most 255 bytes (not characters: 100 × "€" is 300).
 */
export const MAX_TASK_ID_BYTES = MAX_SHORTSTR_BYTES;

/**
 * True when `text` is well-formed UTF-16 (no lone surrogate), i.e. survives a round trip through
 * UTF-8 unchanged. A lone surrogate would be written as U+FFFD: the id in the result's `messageId`
 * and the file name hashed from it would no longer match the id in the task. (In a `u` regular
 * expression a surrogate pair is one code point, so only lone surrogates match `\p{Cs}`.)
 */
export function isWellFormedUnicode(text: string): boolean {
  return !/\p{Cs}/u.test(text);
}

/** Why `value` cannot be a task id, or undefined when it can. */
export function taskIdViolation(value: unknown): RuleViolation | undefined {
  const fix = `give each task a non-empty string id of at most ${MAX_TASK_ID_BYTES} bytes of UTF-8`;
  if (typeof value !== 'string') {
    return { problem: `is ${value === null ? 'null' : typeof value}, not a string`, fix };
  }
  if (value.length === 0) {
    return { problem: 'is empty', fix };
  }
  if (!isWellFormedUnicode(value)) {
    return {
      problem: 'is not well-formed Unicode (it holds a lone UTF-16 surrogate, which UTF-8 cannot carry)',
      fix,
    };
  }
  const bytes = utf8Length(value);
  if (bytes > MAX_TASK_ID_BYTES) {
    return {
      problem: `is ${bytes} bytes of UTF-8, over the ${MAX_TASK_ID_BYTES} an AMQP messageId can hold`,
      fix,
    };
  }
  return undefined;
}
