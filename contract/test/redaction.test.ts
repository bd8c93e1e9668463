import fc from 'fast-check';
import { CREDENTIAL_KINDS, credentialsOf, findCredentials, REDACTED, redact } from '../src';
import { chars, samples, textOf } from './credential-arbitraries';

describe('redact', () => {
  test.each([
    ['amqp://agent:hunter2@rabbitmq:5672/vhost', 'amqp://agent:***@rabbitmq:5672/vhost'],
    ['amqps://TOKEN123@broker.example.com/', 'amqps://***@broker.example.com/'],
    ['https://u:p%40ss@h:1/v', 'https://u:***@h:1/v'],
    ['connect to amqp://a:b@h and http://c:d@e', 'connect to amqp://a:***@h and http://c:***@e'],
    ['https://api.example.com/v1?access_token=abc&x=1', 'https://api.example.com/v1?access_token=***&x=1'],
    ['https://bucket.s3/o?X-Amz-Signature=deadbeef', 'https://bucket.s3/o?X-Amz-Signature=***'],
    ['https://host/path?sig=abc#frag', 'https://host/path?sig=***#frag'],
    ['amqp://agent:pa/ss@rabbit:5672/vhost', 'amqp://agent:***@rabbit:5672/vhost'],
    ['amqp://agent:p@ss@rabbit:5672/', 'amqp://agent:***@rabbit:5672/'],
    [
      'https://ghp_R8dRb2vLqXH3x9yKm4Tn7wFj2sZc6aVp0e1G@github.com/org/repo',
      'https://***@github.com/org/repo',
    ],
    ['Authorization: Bearer abc123def456', 'Authorization: Bearer ***'],
    ['Authorization: Basic dXNlcjpwYXNzd29yZA==', 'Authorization: Basic ***'],
    ['OPENAI_API_KEY=sk-proj-Ab3dEfGh1jKlMn0pQrStUvWxYz_-12345 set', 'OPENAI_API_KEY=*** set'],
    ['id AKIAIOSFODNN7EXAMPLE, token xoxb-1765367-19874698323-pdFZKVeTu', 'id ***, token ***'],
    [
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMx\n-----END RSA PRIVATE KEY-----',
      '-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----',
    ],
    [
      'https://h/o?X-Amz-Security-Token=Fwo&X-Goog-Credential=sa',
      'https://h/o?X-Amz-Security-Token=***&X-Goog-Credential=***',
    ],
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
      // The fixed user of SSH git hosting is no secret (it used to become `ssh://***@github.com`).
      'ssh://git@github.com/org/repo.git',
      `ghcr.io/org/app@sha256:${'a1'.repeat(32)}`,
      'http://prometheus:9090/api/v1/query?query=up%20@%201700000000',
      'Authorization: Bearer <token>',
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

describe('redact hides everything findCredentials finds', () => {
  const noise = fc.string({ maxLength: 30 });

  test.each(CREDENTIAL_KINDS)('any generated %s in random text is fully masked', (kind) => {
    fc.assert(
      fc.property(samples[kind], noise, noise, (sample, left, right) => {
        const out = redact(`${left} ${textOf(sample)} ${right}`);
        // The context stays readable and only the secret is gone (it may recur in the context).
        expect(out).toContain(`${sample.before}${REDACTED}${sample.after}`);
      }),
    );
  });

  test('a password of any URL characters is fully masked, without `known`', () => {
    fc.assert(
      fc.property(
        // RFC 3986 userinfo characters, `@` and `/` too; `#` would start the fragment.
        chars("ABCabc019._~!$&'()*+,;=%:@/?-", 1, 30),
        (password) => {
          fc.pre(/[^*]/.test(password) && !/^[0-9]{1,5}[/?]/.test(password) && !password.includes("'"));
          const out = redact(`cannot reach amqp://agent:${password}@rabbitmq:5672/vhost: refused`);
          return out === `cannot reach amqp://agent:${REDACTED}@rabbitmq:5672/vhost: refused`;
        },
      ),
    );
  });

  /** Text between credentials: anything, and the characters and words credentials are made of. */
  const plain = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom(
      ' ',
      '@',
      ':',
      '/',
      '?',
      '&',
      '=',
      '*',
      REDACTED,
      'Bearer ',
      'amqp://',
      'sk-',
      'token=',
      'eyJ',
    ),
    fc.constantFrom('-----BEGIN PRIVATE KEY-----', '-----END PRIVATE KEY-----'),
  );
  const fragments = fc.oneof(...CREDENTIAL_KINDS.map((kind) => samples[kind].map(textOf)), plain);
  const texts = fc.array(fragments, { maxLength: 8 }).map((parts) => parts.join(''));
  const plainTexts = fc.array(plain, { maxLength: 8 }).map((parts) => parts.join(''));

  test('what redact returns holds no credential, and redacting it again changes nothing', () => {
    fc.assert(
      fc.property(
        texts,
        fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 2 }),
        (text, known) => {
          const once = redact(text, known);
          expect(findCredentials(once)).toEqual([]);
          expect(redact(once)).toBe(once);
        },
      ),
    );
  });

  test('changes nothing in a text without credentials', () => {
    fc.assert(
      fc.property(plainTexts, (text) => {
        fc.pre(findCredentials(text).length === 0);
        expect(redact(text)).toBe(text);
      }),
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
