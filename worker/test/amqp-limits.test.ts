/**
 * The size rules of amqp-limits.ts, held against amqplib's own encoder: a header table or a set
 * of properties is measured the way amqplib writes it, and the limits are exactly where amqplib
 * starts to throw.
 */
import * as path from 'node:path';
import { Headers, MAX_SHORTSTR_BYTES } from '@agent-fleet/contract';
import fc from 'fast-check';
import {
  AMQPLIB_TABLE_BUFFER_BYTES,
  describeViolation,
  encodedPublishSize,
  FRAME_OVERHEAD_BYTES,
  headersForCopy,
  headerTableBytes,
  type PublishProperties,
  publishViolation,
} from '../src/amqp-limits';
import { PermanentPublishError } from '../src/errors';

// amqplib's internals, reached by path: its package exports only the public API.
const amqplibRoot = path.dirname(require.resolve('amqplib'));
const codec = require(path.join(amqplibRoot, 'lib', 'codec.js')) as {
  encodeTable(buffer: Buffer, table: unknown, offset: number): number;
};
const defs = require(path.join(amqplibRoot, 'lib', 'defs.js')) as {
  BasicProperties: number;
  encodeProperties(id: number, channel: number, size: number, fields: unknown): Buffer;
};
const args = require(path.join(amqplibRoot, 'lib', 'api_args.js')) as {
  publish(exchange: string, routingKey: string, options: unknown): unknown;
};

/** The content header frame amqplib sends for a publish with `properties`. */
function amqplibContentHeader(properties: PublishProperties, bodyBytes = 0): Buffer {
  return defs.encodeProperties(defs.BasicProperties, 1, bodyBytes, args.publish('', 'q', properties));
}

const limits = { maxMessageBytes: 4096 };

// Values as they come off the wire (amqplib's decoder) or as the worker writes them.
const fieldValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.integer(),
    fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes)),
    fc.array(tie('value'), { maxLength: 4 }),
    tie('table'),
    fc.nat().map((value) => ({ '!': 'timestamp', value })),
  ),
  table: fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 12 }), tie('value'), { maxKeys: 5 }),
}));

describe('headerTableBytes', () => {
  test('equals the bytes amqplib encodes for any table, and is infinite exactly when amqplib throws', () => {
    const buffer = Buffer.alloc(1 << 20);
    fc.assert(
      fc.property(fieldValue.table, (table) => {
        const bytes = headerTableBytes(table as Record<string, unknown>);
        if (!Number.isFinite(bytes)) {
          expect(() => codec.encodeTable(buffer, table, 0)).toThrow();
          return true;
        }
        return bytes === codec.encodeTable(buffer, table, 0);
      }),
      { numRuns: 500 },
    );
  });

  test('is infinite for what amqplib cannot encode', () => {
    expect(headerTableBytes({ ['k'.repeat(256)]: 1 })).toBe(Number.POSITIVE_INFINITY);
    expect(headerTableBytes({ big: 10n })).toBe(Number.POSITIVE_INFINITY);
    expect(headerTableBytes({ nan: Number.NaN })).toBe(Number.POSITIVE_INFINITY);
    expect(headerTableBytes({ skipped: undefined })).toBe(4);
  });
});

describe('encodedPublishSize', () => {
  test('the content header is what amqplib sends, less the frame overhead', () => {
    const shortstr = fc.option(fc.string({ unit: 'grapheme', maxLength: 30 }), { nil: undefined });
    fc.assert(
      fc.property(
        fc.record({
          messageId: shortstr,
          correlationId: shortstr,
          contentType: shortstr,
          type: shortstr,
          appId: shortstr,
          expiration: fc.option(fc.nat({ max: 10_000_000 }).map(String), { nil: undefined }),
          persistent: fc.option(fc.boolean(), { nil: undefined }),
          timestamp: fc.option(fc.nat(), { nil: undefined }),
          headers: fc.option(fieldValue.table, { nil: undefined }),
        }),
        fc.nat({ max: 100_000 }),
        (properties, bodyBytes) => {
          const p = properties as PublishProperties;
          const size = encodedPublishSize({ body: bodyBytes, properties: p });
          if (!Number.isFinite(size.contentHeaderBytes)) {
            expect(() => amqplibContentHeader(p, bodyBytes)).toThrow();
            return true;
          }
          const frame = amqplibContentHeader(p, bodyBytes);
          return (
            size.contentHeaderBytes === frame.length - FRAME_OVERHEAD_BYTES &&
            size.totalBytes === size.contentHeaderBytes + bodyBytes
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('publishViolation', () => {
  test('a header table is refused exactly where amqplib starts to throw', () => {
    // One string header: 4 (table) + 1 + 1 (key "h") + 1 + 4 (tag, length) + n.
    const fitting = { h: 'x'.repeat(AMQPLIB_TABLE_BUFFER_BYTES - 11) };
    const over = { h: 'x'.repeat(AMQPLIB_TABLE_BUFFER_BYTES - 10) };
    expect(headerTableBytes(fitting)).toBe(AMQPLIB_TABLE_BUFFER_BYTES);
    expect(() => amqplibContentHeader({ headers: fitting })).not.toThrow();
    expect(publishViolation({ body: 0, properties: { headers: fitting } }, limits)).toBeUndefined();
    expect(() => amqplibContentHeader({ headers: over })).toThrow(
      /Encoded field table \(headers or arguments\) exceeds the 65536 byte encoding buffer/,
    );
    expect(publishViolation({ body: 0, properties: { headers: over } }, limits)).toEqual({
      what: 'headers',
      bytes: AMQPLIB_TABLE_BUFFER_BYTES + 1,
      limit: AMQPLIB_TABLE_BUFFER_BYTES,
    });
  });

  test('a content header must fit the negotiated frame', () => {
    const headers = { h: 'x'.repeat(5000) };
    expect(publishViolation({ body: 0, properties: { headers } }, limits)).toBeUndefined();
    expect(
      publishViolation({ body: 0, properties: { headers } }, { ...limits, frameMax: 4096 }),
    ).toMatchObject({
      what: 'headers',
      bytes: headerTableBytes(headers),
    });
  });

  test('messageId counts UTF-8 bytes: 255 pass, 256 and 100 × "€" (300 bytes) do not, as in amqplib', () => {
    for (const [messageId, bytes] of [
      ['a'.repeat(255), 255],
      ['€'.repeat(85), 255],
      ['a'.repeat(256), 256],
      ['€'.repeat(100), 300],
      ['😀'.repeat(64), 256],
    ] as const) {
      const violation = publishViolation({ body: 1, properties: { messageId } }, limits);
      if (bytes <= MAX_SHORTSTR_BYTES) {
        expect(violation).toBeUndefined();
        expect(() => amqplibContentHeader({ messageId })).not.toThrow();
      } else {
        expect(violation).toEqual({ what: 'messageId', bytes, limit: MAX_SHORTSTR_BYTES });
        expect(() => amqplibContentHeader({ messageId })).toThrow(/messageId/);
      }
    }
    expect(publishViolation({ body: 1, properties: { appId: 'a'.repeat(300) } }, limits)).toEqual({
      what: 'property',
      property: 'appId',
      bytes: 300,
      limit: MAX_SHORTSTR_BYTES,
    });
  });

  test('a body over maxMessageBytes is refused, one at the limit is not', () => {
    expect(publishViolation({ body: Buffer.alloc(4096), properties: {} }, limits)).toBeUndefined();
    expect(publishViolation({ body: Buffer.alloc(4097), properties: {} }, limits)).toEqual({
      what: 'body',
      bytes: 4097,
      limit: 4096,
    });
  });

  test('describeViolation and PermanentPublishError say what, how large and which limit', () => {
    const error = new PermanentPublishError('agent-results', { what: 'body', bytes: 5000, limit: 4096 });
    expect(error.message).toBe(
      `cannot publish to "agent-results": the message body is 5000 bytes, over the broker's max_message_size of 4096 bytes (AGENT_MAX_MESSAGE_BYTES)`,
    );
    expect(error.violation).toEqual({ what: 'body', bytes: 5000, limit: 4096 });
    expect(describeViolation({ what: 'messageId', bytes: 300, limit: 255 })).toMatch(
      /messageId is 300 bytes/,
    );
    expect(describeViolation({ what: 'headers', bytes: Number.POSITIVE_INFINITY, limit: 65536 })).toMatch(
      /not encodable/,
    );
  });
});

describe('headersForCopy', () => {
  const fits = (headers: Record<string, unknown>) =>
    publishViolation({ body: 0, properties: { headers } }, limits)?.what !== 'headers';
  const own = { [Headers.attempts]: 2, [Headers.lastError]: 'boom' };
  const options = { omit: ['x-delivery-count'], droppedHeader: Headers.droppedHeaderBytes, fits };

  test("copies the original headers under the worker's own, minus the omitted ones", () => {
    const copy = headersForCopy(
      { trace: 'abc', 'x-delivery-count': 3, [Headers.attempts]: 1, 'x-death': [{ count: 1 }] },
      own,
      options,
    );
    expect(copy).toEqual({
      headers: { trace: 'abc', 'x-death': [{ count: 1 }], ...own },
      droppedBytes: 0,
    });
  });

  test('an original too large to copy loses its application headers, with the dropped bytes recorded', () => {
    const big = 'y'.repeat(AMQPLIB_TABLE_BUFFER_BYTES - 20);
    const original = { blob: big, trace: 'abc', 'x-first-seen': 'yesterday' };
    expect(fits({ ...original, ...own })).toBe(false);
    const copy = headersForCopy(original, own, options);
    expect(copy.headers).toEqual({
      'x-first-seen': 'yesterday',
      ...own,
      [Headers.droppedHeaderBytes]: copy.droppedBytes,
    });
    expect(copy.droppedBytes).toBe(headerTableBytes({ blob: big, trace: 'abc' }) - 4);
    expect(fits(copy.headers)).toBe(true);
  });

  test('when the x- headers alone are too large, every original header goes', () => {
    const original = { 'x-huge': 'z'.repeat(AMQPLIB_TABLE_BUFFER_BYTES), app: 1 };
    const copy = headersForCopy(original, own, options);
    expect(copy.headers).toEqual({ ...own, [Headers.droppedHeaderBytes]: copy.droppedBytes });
    expect(copy.droppedBytes).toBe(headerTableBytes(original) - 4);
  });

  test("whatever the original, the copy fits as long as the worker's own headers do", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 30_000 }), { maxKeys: 6 }),
        (original) => fits(headersForCopy(original, own, options).headers),
      ),
      { numRuns: 100 },
    );
  });
});
