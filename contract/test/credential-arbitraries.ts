import fc from 'fast-check';
import type { CredentialKind } from '../src';

/** A credential in its usual context: `before + secret + after`, where `secret` is what to hide. */
export interface Sample {
  readonly before: string;
  readonly secret: string;
  readonly after: string;
}

export const textOf = (sample: Sample): string => `${sample.before}${sample.secret}${sample.after}`;

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = `${UPPER}${LOWER}${DIGITS}`;
const BASE64URL = `${ALNUM}_-`;

/** A string of `alphabet`'s characters, `min` to `max` long. */
export function chars(alphabet: string, min: number, max = min): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...alphabet), minLength: min, maxLength: max });
}

const pick = (...values: string[]) => fc.constantFrom(...values);

/** A random key has mixed case and a digit; fast-check would otherwise try `aaaa…` first. */
const randomKey = (min: number, max: number) =>
  fc
    .tuple(chars(BASE64URL, min - 3, max - 3), chars(UPPER, 1), chars(LOWER, 1), chars(DIGITS, 1))
    .map((parts) => parts.join(''));

const sample = (before: fc.Arbitrary<string>, secret: fc.Arbitrary<string>, after: fc.Arbitrary<string>) =>
  fc.record({ before, secret, after });

/**
 * One generator per kind. The alphabets leave out what would end the credential early or start
 * another one inside it (a `&token=` in a password), so the kind and the span can be asserted.
 */
export const samples: { readonly [kind in CredentialKind]: fc.Arbitrary<Sample> } = {
  'private-key': sample(
    pick('', 'RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED ').map((type) => `-----BEGIN ${type}PRIVATE KEY-----`),
    fc
      .array(chars(`${ALNUM}+/`, 16, 64), { minLength: 1, maxLength: 5 })
      .map((lines) => `\n${lines.join('\n')}=\n`),
    pick('-----END PRIVATE KEY-----\n'),
  ),
  jwt: sample(
    pick('id_token: ', '"jwt": "'),
    fc
      .tuple(chars(BASE64URL, 4, 60), chars(BASE64URL, 4, 200), chars(BASE64URL, 0, 86))
      .map(([header, claims, signature]) => `eyJ${header}.eyJ${claims}.${signature}`),
    pick('', '"'),
  ),
  'github-token': sample(
    pick('GITHUB_TOKEN=', 'token: '),
    fc.oneof(
      fc.tuple(pick('ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'), chars(ALNUM, 36)).map((parts) => parts.join('')),
      chars(`${ALNUM}_`, 22, 82).map((rest) => `github_pat_${rest}`),
    ),
    pick('', '\n'),
  ),
  'slack-token': sample(
    pick('SLACK_BOT_TOKEN=', 'token '),
    fc
      .tuple(
        pick('xoxb', 'xoxp', 'xoxa', 'xoxr', 'xoxs', 'xapp'),
        chars(DIGITS, 1, 13),
        chars(`${ALNUM}-`, 8, 60),
      )
      .map(([prefix, team, rest]) => `${prefix}-${team}-${rest}`),
    pick('', ' '),
  ),
  'google-api-key': sample(
    pick('GOOGLE_API_KEY=', 'key: '),
    chars(BASE64URL, 35).map((rest) => `AIza${rest}`),
    pick('', '\n'),
  ),
  'aws-access-key-id': sample(
    pick('aws_access_key_id = ', 'AWS_ACCESS_KEY_ID='),
    fc.tuple(pick('AKIA', 'ASIA'), chars(`${UPPER}${DIGITS}`, 16)).map((parts) => parts.join('')),
    pick('', '\n'),
  ),
  'api-key': sample(
    pick('OPENAI_API_KEY=', 'x-api-key: ', 'key '),
    fc.tuple(pick('sk-', 'sk-proj-', 'sk-ant-api03-'), randomKey(20, 100)).map((parts) => parts.join('')),
    pick('', '.', '\n'),
  ),
  'bearer-token': sample(
    pick('Authorization: Bearer ', 'authorization: bearer '),
    // A digit, so it is not a word of prose.
    fc
      .tuple(
        chars('ABCabcxyz._~+/-', 4, 30),
        chars(DIGITS, 1),
        chars(`${ALNUM}._~+/-`, 3, 40),
        pick('', '=', '=='),
      )
      .map((parts) => parts.join('')),
    pick('', '\r\n'),
  ),
  'basic-credentials': sample(
    pick('Authorization: Basic '),
    fc
      .tuple(chars(`${ALNUM}._-`, 1, 12), fc.string({ minLength: 4, maxLength: 20 }))
      .map(([user, password]) => Buffer.from(`${user}:${password}`).toString('base64')),
    pick('', '\r\n'),
  ),
  'url-password': sample(
    fc
      .tuple(pick('amqp', 'amqps', 'https', 'redis', 'postgres'), chars(`${ALNUM}._-`, 0, 10))
      .map(([scheme, user]) => `${scheme}://${user}:`),
    // A raw `@`, `/` or `:` too; not `port/path`, which is what `host:9090/x` is.
    chars(`${ALNUM}._~!$()*+,;=%/:@-`, 1, 30).filter((p) => /[^*]/.test(p) && !/^[0-9]{1,5}[/?]/.test(p)),
    pick('@rabbitmq:5672/vhost', '@h', '@db.example.com/app?sslmode=require'),
  ),
  'url-token': sample(
    pick('amqps://', 'https://', 'redis://'),
    chars(`${ALNUM}._~!$()*+,;%-`, 1, 40).filter((t) => t !== 'git' && /[^*]/.test(t)),
    pick('@broker.example.com:5671/vhost', '@github.com/org/repo'),
  ),
  'query-credential': sample(
    pick(
      'password',
      'passwd',
      'pwd',
      'token',
      'Access_Token',
      'refresh_token',
      'secret',
      'client_secret',
      'api_key',
      'API-KEY',
      'apikey',
      'access_key',
      'key',
    ).map((name) => `https://api.example.com/v1?page=2&${name}=`),
    chars(`${ALNUM}%._~+/-`, 1, 40),
    pick('', '&sort=asc', '#top'),
  ),
  'signed-url': sample(
    pick(
      'sig',
      'signature',
      'X-Amz-Signature',
      'X-Amz-Credential',
      'x-amz-security-token',
      'X-Goog-Signature',
      'X-Goog-Credential',
    ).map((name) => `https://bucket.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&${name}=`),
    chars(`${ALNUM}%._~+/-`, 1, 64),
    pick('', '&X-Amz-Expires=900'),
  ),
};
