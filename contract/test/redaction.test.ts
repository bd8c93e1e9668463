import fc from 'fast-check';
import { credentialsOf, REDACTED, redact } from '../src';

describe('redact', () => {
  test.each([
    ['amqp://agent:hunter2@rabbitmq:5672/vhost', 'amqp://agent:***@rabbitmq:5672/vhost'],
    ['amqps://TOKEN123@broker.example.com/', 'amqps://***@broker.example.com/'],
    ['https://u:p%40ss@h:1/v', 'https://u:***@h:1/v'],
    ['connect to amqp://a:b@h and http://c:d@e', 'connect to amqp://a:***@h and http://c:***@e'],
    ['https://api.example.com/v1?access_token=abc&x=1', 'https://api.example.com/v1?access_token=***&x=1'],
    ['https://bucket.s3/o?X-Amz-Signature=deadbeef', 'https://bucket.s3/o?X-Amz-Signature=***'],
    ['https://host/path?sig=abc#frag', 'https://host/path?sig=***#frag'],
  ])('%s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  test('leaves text without credentials unchanged', () => {
    for (const plain of [
      'amqp://rabbitmq:5672/',
      'registry.example.com/agent:1.4.2',
      'user@example.com',
      'agent-tasks',
      'https://grafana.example.com/d/abc?orgId=1',
    ]) {
      expect(redact(plain)).toBe(plain);
    }
  });

  test('is idempotent', () => {
    const once = redact('amqp://agent:hunter2@h/ and amqp://tok@h/');
    expect(redact(once)).toBe(once);
  });

  test('hides known secrets, raw and percent-encoded, wherever they appear', () => {
    expect(redact('login failed for p@ss and p%40ss', ['p@ss'])).toBe(
      `login failed for ${REDACTED} and ${REDACTED}`,
    );
  });

  test('no generated password or token survives in a URL or in text that quotes it', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=-]{6,30}$/),
        fc.constantFrom('amqp', 'amqps', 'https', 'redis'),
        fc.boolean(),
        (secret, scheme, withUser) => {
          const url = withUser
            ? `${scheme}://agent:${secret}@host:5672/`
            : `${scheme}://${secret}@host:5672/`;
          const text = `cannot connect to ${url}: refused (${secret})`;
          return !redact(text, credentialsOf(url)).includes(secret);
        },
      ),
    );
  });
});

describe('credentialsOf', () => {
  test('the password, or the user name when it stands alone (token auth), decoded too', () => {
    expect(credentialsOf('amqp://agent:p%40ss@h/')).toEqual(['p%40ss', 'p@ss']);
    expect(credentialsOf('amqp://token@h/')).toEqual(['token']);
    expect(credentialsOf('amqp://h/')).toEqual([]);
    expect(credentialsOf('not a url')).toEqual([]);
  });
});
