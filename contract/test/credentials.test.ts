import fc from 'fast-check';
import {
  CREDENTIAL_KINDS,
  type CredentialKind,
  carriesCredential,
  describeCredential,
  findCredentials,
} from '../src';
import { samples, textOf } from './credential-arbitraries';

const HEX40 = 'a3f1c9e07b2d4856a1c0f9e8d7b6a5c4e3f2a1b0';
const HEX64 = `${HEX40}0123456789abcdef01234567`;
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
const PEM_BODY =
  '\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n';
const GHP = 'ghp_R8dRb2vLqXH3x9yKm4Tn7wFj2sZc6aVp0e1G';

/** [kind, before, secret, after]: `before + secret + after` holds one credential, `secret` exactly. */
const positives: [CredentialKind, string, string, string][] = [
  ['url-password', 'amqp://agent:', 'hunter2', '@rabbitmq:5672/vhost'],
  ['url-password', 'amqp://agent:', 'pa/ss', '@rabbit:5672/vhost'],
  ['url-password', 'amqp://agent:', 'pa:ss', '@rabbit/'],
  ['url-password', 'amqp://agent:', 'pa%2Fss', '@rabbit/'],
  ['url-password', 'https://u:', 'p%40ss', '@h:1/v'],
  // A raw `@` is not valid in a password, but the host follows the last one: all of it is hidden.
  ['url-password', 'amqp://agent:', 'p@ss', '@rabbit:5672/'],
  ['url-password', 'redis://:', 'hunter2', '@redis:6379/0'],
  ['url-password', 'postgres://app:', 's3cret', '@db:5432/app?sslmode=require'],
  ['url-password', 'url: "amqps://agent:', 'hunter2', '@rabbit/" # prod'],
  ['url-password', 'AMQP://agent:', 'hunter2', '@rabbit/'],
  ['url-token', 'amqps://', 'TOKEN123', '@broker.example.com/'],
  ['url-token', 'redis://', 'x-oauth-basic', '@cache:6379'],
  ['github-token', 'https://', GHP, '@github.com/org/repo'],
  ['bearer-token', 'Authorization: Bearer ', 'abc123def456', ''],
  ['bearer-token', 'authorization: bearer ', '0a1b2c3d4e5f', ''],
  ['jwt', 'Authorization: Bearer ', JWT, ''],
  ['basic-credentials', 'Authorization: Basic ', 'dXNlcjpwYXNzd29yZA==', ''],
  ['basic-credentials', 'Authorization: Basic ', 'OnRva2VuMTIz', ' (an empty user name)'],
  ['api-key', 'OPENAI_API_KEY=', 'sk-proj-Ab3dEfGh1jKlMn0pQrStUvWxYz_-12345', ''],
  ['api-key', 'key ', 'sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE', '.'],
  ['api-key', '', 'sk-T3BlbkFJabcdEFGH1234ijklMNOP5678qrst', ''],
  ['aws-access-key-id', 'aws_access_key_id = ', 'AKIAIOSFODNN7EXAMPLE', ''],
  ['aws-access-key-id', '', 'ASIAY34FZKBOKMUTVV7A', ''],
  ['github-token', 'GITHUB_TOKEN=', GHP, ''],
  ['github-token', 'token ', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', ''],
  ['slack-token', 'SLACK_BOT_TOKEN=', 'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy', ''],
  ['slack-token', '', 'xapp-1-A0123456789-1234567890123-abcdef0123', ''],
  [
    'google-api-key',
    'https://maps.googleapis.com/api/geocode/json?k=',
    'AIzaSyD-1234567890abcdefghijklmnopqrstu',
    '',
  ],
  ['jwt', 'id_token: ', JWT, ''],
  ['private-key', '-----BEGIN RSA PRIVATE KEY-----', PEM_BODY, '-----END RSA PRIVATE KEY-----\n'],
  ['private-key', '-----BEGIN PRIVATE KEY-----', PEM_BODY, '-----END PRIVATE KEY-----'],
  // In a JSON string, the newlines escaped.
  [
    'private-key',
    '"-----BEGIN OPENSSH PRIVATE KEY-----',
    '\\nb3BlbnNzaC1rZXktdjEAAAAA\\n',
    '-----END OPENSSH PRIVATE KEY-----\\n"',
  ],
  // Cut off before the END line: the body is hidden all the same.
  ['private-key', '-----BEGIN EC PRIVATE KEY-----', '\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBn', ''],
  ['query-credential', 'https://api.example.com/v1?access_token=', 'abc', '&x=1'],
  ['query-credential', 'https://h/login?user=a&password=', 'hunter2', ''],
  ['query-credential', 'https://h/?x=1&token=', 't0k', '#frag'],
  ['query-credential', 'https://h/?API_KEY=', 'k3y', ''],
  ['query-credential', 'https://h/?api-key=', 'k3y', ''],
  ['query-credential', 'https://h/?apikey=', 'k3y', ''],
  ['query-credential', 'https://h/?key=', 'k3y', ''],
  ['query-credential', 'https://h/?client_secret=', 's3cr3t', ''],
  ['signed-url', 'https://bucket.s3/o?X-Amz-Signature=', 'deadbeef', ''],
  [
    'signed-url',
    'https://bucket.s3/o?X-Amz-Credential=',
    'AKIAIOSFODNN7EXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request',
    '&X-Amz-Date=20240101T000000Z',
  ],
  ['signed-url', 'https://bucket.s3/o?x-amz-security-token=', 'FwoGZXIvYXdzEJr', ''],
  ['signed-url', 'https://storage.googleapis.com/b/o?X-Goog-Signature=', '0a1b2c', ''],
  ['signed-url', 'https://storage.googleapis.com/b/o?X-Goog-Credential=', 'sa%40p.iam', ''],
  ['signed-url', 'https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=', 'AbC%2Bd%3D', ''],
  ['signed-url', 'https://h/p?signature=', 'abc123', ''],
];

/** [what it is, text]: shapes near a credential that must not be taken for one. */
const nearMisses: [string, string][] = [
  ['image with sk- in its name', 'registry.example.com/sk-tools:1.2.3'],
  ['image by digest', `ghcr.io/org/app@sha256:${HEX64}`],
  ['image with tag and digest', `docker.io/library/node:20@sha256:${HEX64}`],
  ['image URL by digest', `docker://ghcr.io/org/app@sha256:${HEX64}`],
  ['host name starting sk-', 'sk-prod.internal'],
  ['host name starting akia-', 'akia-proxy.svc'],
  ['lowercase name after sk-', 'sk-learn-training-pipeline-v2'],
  ['label value ending -sk', 'team-sk'],
  ['label value sk-learn', 'sk-learn'],
  ['label value xoxo', 'xoxo'],
  ['Slack prefix with a word', 'xoxb-placeholder'],
  ['query without credentials', 'https://host/path?page=2&sort=asc'],
  ['vhost %2F', 'amqp://rabbitmq:5672/%2F'],
  ['host and port', 'http://prometheus-operated.monitoring.svc:9090'],
  ['dashboard URL', 'https://grafana.example.com/d/abc?orgId=1'],
  ['`@` in the path', 'https://host/users/a@b.com'],
  ['`@` in the query after a port', 'http://prometheus:9090/api/v1/query?query=up%20@%201700000000'],
  ['`@` in a fragment', 'https://host/x#a@b'],
  ['IPv6 host with `@` in the path', 'http://[::1]:8080/p@x'],
  ['SSH git user', 'ssh://git@github.com/org/repo.git'],
  ['e-mail address', 'user@example.com'],
  ['mailto', 'mailto:user@example.com'],
  ['CPU quantity', '500m'],
  ['memory quantity', '4Gi'],
  ['UUID', '123e4567-e89b-12d3-a456-426614174000'],
  ['40-hex digest', HEX40],
  ['64-hex digest', HEX64],
  ['PromQL with a label matcher', 'sum(rate(agent_tasks_completed_total{job="x",status="failed"}[5m]))'],
  ['Bearer alone', 'Bearer'],
  ['Bearer and a short word', 'Bearer token'],
  ['Bearer placeholder', 'Authorization: Bearer <token>'],
  ['Bearer variable', 'Authorization: Bearer $TOKEN'],
  ['Basic in prose', 'Basic authentication is not supported'],
  ['Bearer in prose', 'Bearer multi-tenant'],
  ['the word token', 'token'],
  ['keyboard=', '?keyboard=1'],
  ['monkey=', 'https://h/?monkey=2'],
  ['key names inside others', 'https://h/?keyboard=1&monkey=2&tokens=3&passwords=4'],
  ['key= outside a query', 'key=value'],
  ['masked URL', 'amqp://agent:***@rabbit/'],
  ['masked token', 'amqps://***@rabbit/'],
  ['masked query', 'https://h/?token=***&sig=****'],
  [
    'public key',
    '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----',
  ],
  ['PEM header in prose', '-----BEGIN PRIVATE KEY----- is the first line of a key'],
  ['JWT-like without claims', 'eyJhbGciOiJIUzI1NiJ9'],
  ['AWS-like in lowercase', 'akiaiosfodnn7example'],
];

describe('findCredentials', () => {
  test.each(positives)('%s: %j + %j + %j', (kind, before, secret, after) => {
    const text = `${before}${secret}${after}`;
    const start = before.length;
    expect(findCredentials(text)).toEqual([{ kind, start, end: start + secret.length }]);
    expect(carriesCredential(text)).toBe(true);
  });

  test.each(nearMisses)('not a credential: %s', (_what, text) => {
    expect(findCredentials(text)).toEqual([]);
    expect(carriesCredential(text)).toBe(false);
  });

  test('every kind has a description and a positive example', () => {
    for (const kind of CREDENTIAL_KINDS) {
      expect(describeCredential(kind)).toMatch(/^(a|an|the|HTTP) /);
      expect(positives.some(([k]) => k === kind)).toBe(true);
    }
    expect(describeCredential('url-password')).toBe('a password in a URL');
    expect(describeCredential('bearer-token')).toBe('a bearer token');
    expect(describeCredential('api-key')).toBe('an OpenAI/Anthropic-style API key');
  });

  test('finds each credential of a text, sorted, and keeps their context', () => {
    const text = `connect to amqp://a:b@h and http://c:d@e with Bearer ${JWT}?key=x`;
    const found = findCredentials(text);
    expect(found.map((m) => [m.kind, text.slice(m.start, m.end)])).toEqual([
      ['url-password', 'b'],
      ['url-password', 'd'],
      ['jwt', JWT],
      ['query-credential', 'x'],
    ]);
  });

  test('merges overlapping spans, named by the one that starts first', () => {
    // The query value starts inside the password and ends after it.
    const text = 'amqp://agent:x?token=y@h/vhost';
    expect(findCredentials(text)).toEqual([{ kind: 'url-password', start: 13, end: text.length }]);
  });

  test.each(CREDENTIAL_KINDS)('finds any generated %s, exactly its secret', (kind) => {
    fc.assert(
      fc.property(samples[kind], (sample) => {
        const start = sample.before.length;
        expect(findCredentials(textOf(sample))).toEqual([{ kind, start, end: start + sample.secret.length }]);
      }),
    );
  });

  test('spans are in bounds, sorted, apart, and never a mask', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        let previousEnd = -1;
        for (const { start, end } of findCredentials(text)) {
          expect(start).toBeGreaterThan(previousEnd);
          expect(end).toBeGreaterThan(start);
          expect(end).toBeLessThanOrEqual(text.length);
          expect(text.slice(start, end)).toMatch(/[^*]/);
          previousEnd = end;
        }
      }),
    );
  });

  test.each([
    ['schemes without an end', 'a://'.repeat(25_000)],
    ['a port that never ends', `http://x:${'1'.repeat(200_000)}`],
    ['userinfo without an @', `https://${'u:'.repeat(100_000)}`],
    ['many PEM headers', '-----BEGIN PRIVATE KEY-----'.repeat(5_000)],
    ['Bearer repeated', 'Bearer '.repeat(30_000)],
    ['one long token', 'A'.repeat(200_000)],
  ])('stays fast on adversarial text: %s', (_what, text) => {
    const started = Date.now();
    findCredentials(text);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
