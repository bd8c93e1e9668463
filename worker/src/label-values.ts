/**
 * Label values that come from handler code (`ctx.recordTokens(model)`, `ctx.guard(name)`) are
 * unbounded: a handler that passes a request id as the model name makes one series per request,
 * and Prometheus (and the worker's memory) pays for every one of them. `BoundedLabels` keeps the
 * first values of a label and folds the rest into one.
 */

/** Longest label value kept, in characters (code points); longer values are cut. */
export const MAX_LABEL_VALUE_LENGTH = 64;

/** Distinct values kept per label; later new values are counted under `OVERFLOW_LABEL_VALUE`. */
export const MAX_LABEL_VALUES = 32;

/** The value every new value maps to once a label is full. */
export const OVERFLOW_LABEL_VALUE = 'other';

/** Told once per label, when its first value beyond the cap arrives. */
export type LabelOverflow = (info: {
  readonly label: string;
  readonly maxValues: number;
  /** The (truncated) value that found the label full. */
  readonly firstRefused: string;
}) => void;

export interface BoundedLabelsOptions {
  /** @default MAX_LABEL_VALUES */
  readonly maxValues?: number;
  /** @default MAX_LABEL_VALUE_LENGTH */
  readonly maxLength?: number;
  /** Called once, when the label is first full. @default - nothing */
  readonly onOverflow?: LabelOverflow;
}

/** Cuts `value` to `maxLength` code points (never in the middle of a surrogate pair). */
export function truncateLabelValue(value: string, maxLength = MAX_LABEL_VALUE_LENGTH): string {
  if (value.length <= maxLength) {
    return value;
  }
  let out = '';
  let count = 0;
  for (const char of value) {
    if (count === maxLength) {
      break;
    }
    out += char;
    count++;
  }
  return out;
}

/**
 * The values of one label: the first `maxValues` distinct (truncated) values are kept as they
 * are; any later new value becomes `other`, and `onOverflow` is told once. Values already kept stay
 * kept, so a series never moves between `other` and its own name.
 */
export class BoundedLabels {
  private readonly kept = new Set<string>();
  private overflowed = false;
  private readonly maxValues: number;
  private readonly maxLength: number;

  constructor(
    readonly label: string,
    private readonly options: BoundedLabelsOptions = {},
  ) {
    this.maxValues = options.maxValues ?? MAX_LABEL_VALUES;
    this.maxLength = options.maxLength ?? MAX_LABEL_VALUE_LENGTH;
  }

  /** The value to record for `raw`. */
  value(raw: string): string {
    const value = truncateLabelValue(String(raw), this.maxLength);
    if (this.kept.has(value) || value === OVERFLOW_LABEL_VALUE) {
      return value;
    }
    if (this.kept.size < this.maxValues) {
      this.kept.add(value);
      return value;
    }
    if (!this.overflowed) {
      this.overflowed = true;
      this.options.onOverflow?.({ label: this.label, maxValues: this.maxValues, firstRefused: value });
    }
    return OVERFLOW_LABEL_VALUE;
  }

  /** Distinct values kept so far (`other` not included). */
  get size(): number {
    return this.kept.size;
  }
}
