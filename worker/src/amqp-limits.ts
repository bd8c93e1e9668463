/**
 * What a publish can carry, checked before it is sent: AMQP 0-9-1, amqplib and RabbitMQ each
 * refuse something, and none of those refusals gets better on retry.
 *
 * - `messageId` and the other short-string properties hold at most 255 bytes of UTF-8; amqplib
 *   throws a TypeError from `publish()` for a longer one.
 * - amqplib encodes a message's header table into one scratch buffer of 64 KiB
 *   (`SCRATCH = Buffer.alloc(65536)` in amqplib/lib/defs.js) and throws from `publish()`
 *   `RangeError: Encoded field table (headers or arguments) exceeds the 65536 byte encoding buffer`
 *   (`checkSpace` in amqplib/lib/codec.js) for a larger one. The whole content header must also fit
 *   one frame (`frame_max`, 128 KiB by default), or the broker closes the connection.
 * - RabbitMQ refuses a body over `max_message_size` (128 MiB by default since 3.8) by closing the
 *   channel, which also drops every unconfirmed publish and unacked delivery of that channel.
 *
 * Pure functions only: sizes are computed the way amqplib encodes (`encodeTable` and
 * `encodeBasicProperties`), so a unit test can hold them against amqplib's own encoder.
 */
import { MAX_SHORTSTR_BYTES } from '@agent-fleet/contract';

/** Size of amqplib's header-table encoding buffer (amqplib/lib/defs.js, `SCRATCH`). */
export const AMQPLIB_TABLE_BUFFER_BYTES = 65_536;

/** Bytes around every frame's payload: type (1), channel (2), payload size (4), frame end (1). */
export const FRAME_OVERHEAD_BYTES = 8;

/** The fixed part of a content header payload: class id, weight, body size, property flags. */
const CONTENT_HEADER_FIXED_BYTES = 2 + 2 + 8 + 2;

/** Nesting amqplib would follow; anything deeper is treated as unencodable (a cycle, or hostile). */
const MAX_TABLE_DEPTH = 64;

/** The short-string properties of `basic.publish`, in amqplib's encoding order. */
export const SHORTSTR_PROPERTIES = [
  'contentType',
  'contentEncoding',
  'correlationId',
  'replyTo',
  'expiration',
  'messageId',
  'type',
  'userId',
  'appId',
  'clusterId',
] as const;

export type ShortstrProperty = (typeof SHORTSTR_PROPERTIES)[number];

/** The properties of a planned publish, as passed to amqplib's `publish()`. */
export type PublishProperties = {
  readonly [K in ShortstrProperty]?: string | number;
} & {
  readonly headers?: Readonly<Record<string, unknown>>;
  readonly persistent?: boolean;
  readonly deliveryMode?: boolean | number;
  readonly priority?: number;
  readonly timestamp?: number;
};

/** A publish the worker intends to make. */
export interface PlannedPublish {
  /** The body, or its length in bytes. */
  readonly body: Buffer | number;
  readonly properties: PublishProperties;
}

/** What the broker and the client accept. */
export interface PublishLimits {
  /** The broker's `max_message_size` (`AGENT_MAX_MESSAGE_BYTES`). */
  readonly maxMessageBytes: number;
  /** The connection's negotiated frame size, when known. @default - not checked */
  readonly frameMax?: number;
}

/** The first limit a planned publish breaks. `bytes` is infinite when amqplib cannot encode the value at all. */
export type PublishViolation =
  | { readonly what: 'body' | 'headers' | 'messageId'; readonly bytes: number; readonly limit: number }
  | {
      readonly what: 'property';
      readonly property: ShortstrProperty;
      readonly bytes: number;
      readonly limit: number;
    };

/** Sizes of a planned publish as amqplib encodes it (frame overheads excluded). */
export interface PublishSize {
  readonly bodyBytes: number;
  /** The header table, length prefix included. */
  readonly headerTableBytes: number;
  /** The whole content-header payload: fixed part, properties and header table. */
  readonly contentHeaderBytes: number;
  /** `contentHeaderBytes + bodyBytes`. */
  readonly totalBytes: number;
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** amqplib's choice between a double and an integer (codec.js `isFloatingPoint`). */
function isFloatingPoint(n: number): boolean {
  return n >= 0x8000000000000000 || (Math.abs(n) < 0x4000000000000 && Math.floor(n) !== n);
}

const FIXED_TYPE_BYTES: Readonly<Record<string, number>> = {
  double: 8,
  float64: 8,
  byte: 1,
  int8: 1,
  unsignedbyte: 1,
  uint8: 1,
  short: 2,
  int16: 2,
  unsignedshort: 2,
  uint16: 2,
  int: 4,
  int32: 4,
  unsignedint: 4,
  uint32: 4,
  long: 8,
  int64: 8,
  timestamp: 8,
  float: 4,
  decimal: 5,
  boolean: 1,
};

/** Encoded size of one field value, type tag included (codec.js `encodeFieldValue`). */
function fieldValueBytes(value: unknown, depth: number): number {
  if (depth > MAX_TABLE_DEPTH) {
    return Number.POSITIVE_INFINITY;
  }
  let type: string = typeof value;
  let val: unknown = value;
  if (value && type === 'object' && Object.hasOwn(value as object, '!')) {
    val = (value as { value?: unknown }).value;
    type = String((value as Record<string, unknown>)['!']);
  }
  if (type === 'number') {
    const n = val as number;
    if (!Number.isFinite(n)) {
      return Number.POSITIVE_INFINITY; // amqplib picks "long" and BigInt(n) throws
    }
    if (isFloatingPoint(n)) {
      return 1 + 8;
    }
    if (!Number.isInteger(n) || n < -0x8000000000000000) {
      // amqplib encodes a number of magnitude 2^50 or more as an int64, and BigInt() refuses a
      // fraction (possible up to 2^52) and writeBigInt64BE a value below -2^63: it throws.
      return Number.POSITIVE_INFINITY;
    }
    return (
      1 +
      (n < 128 && n >= -128 ? 1 : n >= -0x8000 && n < 0x8000 ? 2 : n >= -0x80000000 && n < 0x80000000 ? 4 : 8)
    );
  }
  switch (type) {
    case 'string':
      return typeof val === 'string' ? 1 + 4 + utf8Bytes(val) : Number.POSITIVE_INFINITY;
    case 'object':
      if (val === null) {
        return 1;
      }
      if (Array.isArray(val)) {
        let bytes = 1 + 4;
        for (const item of val) {
          bytes += fieldValueBytes(item, depth + 1);
        }
        return bytes;
      }
      if (Buffer.isBuffer(val)) {
        return 1 + 4 + val.length;
      }
      return 1 + tableBytes(val as Record<string, unknown>, depth + 1);
    default: {
      const fixed = FIXED_TYPE_BYTES[type];
      return fixed === undefined ? Number.POSITIVE_INFINITY : 1 + fixed;
    }
  }
}

function tableBytes(table: Readonly<Record<string, unknown>>, depth: number): number {
  let bytes = 4;
  // for…in, as amqplib's encoder: inherited enumerable keys are encoded too.
  for (const key in table) {
    const value = table[key];
    if (value === undefined) {
      continue;
    }
    const keyBytes = utf8Bytes(key);
    if (keyBytes > MAX_SHORTSTR_BYTES) {
      return Number.POSITIVE_INFINITY; // keys are short strings
    }
    bytes += 1 + keyBytes + fieldValueBytes(value, depth);
  }
  return bytes;
}

/**
 * Encoded size of a header table as amqplib writes it (its 4-byte length included), or
 * `Infinity` when amqplib cannot encode it (a key over 255 bytes, a value of an unknown type, a
 * non-finite number).
 */
export function headerTableBytes(headers: Readonly<Record<string, unknown>> | undefined): number {
  return tableBytes(headers ?? {}, 0);
}

/** Encoded size of one header entry (key and value), as it counts towards the table. */
export function headerEntryBytes(key: string, value: unknown): number {
  return value === undefined ? 0 : 1 + utf8Bytes(key) + fieldValueBytes(value, 0);
}

/** The sizes of a planned publish, as amqplib encodes it. */
export function encodedPublishSize(publish: PlannedPublish): PublishSize {
  const p = publish.properties;
  const bodyBytes = typeof publish.body === 'number' ? publish.body : publish.body.length;
  // amqplib always sends a header table (an empty one when none is given).
  const headerTable = headerTableBytes(p.headers);
  let contentHeaderBytes = CONTENT_HEADER_FIXED_BYTES + headerTable;
  for (const name of SHORTSTR_PROPERTIES) {
    const value = p[name];
    if (value !== undefined && value !== null) {
      contentHeaderBytes += 1 + utf8Bytes(String(value));
    }
  }
  if (p.persistent !== undefined || p.deliveryMode) {
    contentHeaderBytes += 1;
  }
  if (p.priority !== undefined && p.priority !== null) {
    contentHeaderBytes += 1;
  }
  if (p.timestamp !== undefined && p.timestamp !== null) {
    contentHeaderBytes += 8;
  }
  return {
    bodyBytes,
    headerTableBytes: headerTable,
    contentHeaderBytes,
    totalBytes: contentHeaderBytes + bodyBytes,
  };
}

/** The largest header table amqplib can encode under `limits` (its buffer, and the frame when known). */
export function headerTableLimit(limits: PublishLimits, size?: PublishSize): number {
  if (limits.frameMax === undefined || limits.frameMax <= 0 || size === undefined) {
    return AMQPLIB_TABLE_BUFFER_BYTES;
  }
  const rest = size.contentHeaderBytes - size.headerTableBytes;
  return Math.min(AMQPLIB_TABLE_BUFFER_BYTES, limits.frameMax - FRAME_OVERHEAD_BYTES - rest);
}

/**
 * The first limit `publish` breaks, or undefined when it can be sent: a short-string property
 * (`messageId` first) over 255 bytes of UTF-8, a header table amqplib cannot encode or the frame
 * cannot hold, a body over the broker's `max_message_size`.
 */
export function publishViolation(
  publish: PlannedPublish,
  limits: PublishLimits,
): PublishViolation | undefined {
  const p = publish.properties;
  for (const name of ['messageId', ...SHORTSTR_PROPERTIES.filter((n) => n !== 'messageId')] as const) {
    const value = p[name];
    if (value === undefined || value === null) {
      continue;
    }
    // amqplib turns `expiration` into a string itself and refuses any other non-string.
    const bytes =
      typeof value === 'string' || name === 'expiration'
        ? utf8Bytes(String(value))
        : Number.POSITIVE_INFINITY;
    if (bytes > MAX_SHORTSTR_BYTES) {
      return name === 'messageId'
        ? { what: 'messageId', bytes, limit: MAX_SHORTSTR_BYTES }
        : { what: 'property', property: name, bytes, limit: MAX_SHORTSTR_BYTES };
    }
  }
  const size = encodedPublishSize(publish);
  const tableLimit = headerTableLimit(limits, size);
  if (size.headerTableBytes > tableLimit) {
    return { what: 'headers', bytes: size.headerTableBytes, limit: tableLimit };
  }
  if (size.bodyBytes > limits.maxMessageBytes) {
    return { what: 'body', bytes: size.bodyBytes, limit: limits.maxMessageBytes };
  }
  return undefined;
}

/** One sentence for logs and failed results: what is too large, by how much, and which limit. */
export function describeViolation(violation: PublishViolation): string {
  const bytes = Number.isFinite(violation.bytes) ? `${violation.bytes} bytes` : 'not encodable';
  switch (violation.what) {
    case 'body':
      return `the message body is ${bytes}, over the broker's max_message_size of ${violation.limit} bytes (AGENT_MAX_MESSAGE_BYTES)`;
    case 'headers':
      return `the header table is ${bytes}, over the ${violation.limit} bytes a message's headers can take`;
    case 'messageId':
      return `the messageId is ${bytes} of UTF-8, over the AMQP short-string limit of ${violation.limit}`;
    case 'property':
      return `the ${violation.property} property is ${bytes} of UTF-8, over the AMQP short-string limit of ${violation.limit}`;
  }
}

/** Headers for a copy of a message, and how many bytes of the original's headers were left out. */
export interface CopiedHeaders {
  readonly headers: Record<string, unknown>;
  readonly droppedBytes: number;
}

/**
 * The header table of a copy (a retry, a dead letter): the original's headers minus `omit`, with
 * the worker's `own` headers on top. When that is too large to publish (`fits` says no), the
 * original's application headers (names not starting with `x-`) are left out, then, if still too
 * large, all of the original's; `droppedHeader` then records how many encoded bytes were left out.
 * Such a message would otherwise fail on every retry.
 */
export function headersForCopy(
  original: Readonly<Record<string, unknown>> | undefined,
  own: Readonly<Record<string, unknown>>,
  options: {
    readonly omit?: readonly string[];
    /** Name of the header that records the dropped bytes. */
    readonly droppedHeader: string;
    /** True when a copy with these headers can be published. */
    readonly fits: (headers: Record<string, unknown>) => boolean;
  },
): CopiedHeaders {
  const base: Record<string, unknown> = {};
  for (const key in original ?? {}) {
    if (!options.omit?.includes(key) && !(key in own)) {
      base[key] = (original as Record<string, unknown>)[key];
    }
  }
  const full = { ...base, ...own };
  if (options.fits(full)) {
    return { headers: full, droppedBytes: 0 };
  }
  const keepers = [(key: string) => key.toLowerCase().startsWith('x-'), () => false];
  let headers = full;
  let droppedBytes = 0;
  for (const keep of keepers) {
    const kept: Record<string, unknown> = {};
    droppedBytes = 0;
    for (const [key, value] of Object.entries(base)) {
      if (keep(key)) {
        kept[key] = value;
      } else {
        const bytes = headerEntryBytes(key, value);
        // An unencodable entry (never one read from the wire) counts for nothing.
        droppedBytes += Number.isFinite(bytes) ? bytes : 0;
      }
    }
    headers = { ...kept, ...own, [options.droppedHeader]: droppedBytes };
    if (options.fits(headers)) {
      break;
    }
  }
  return { headers, droppedBytes };
}
